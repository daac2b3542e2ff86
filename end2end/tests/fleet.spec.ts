// A fleet behind nginx (scripts/fleet.sh, started by scripts/e2e.sh with three instances): a
// rider and a driver in the middle of a ride, both through the balancer's one address, while
// instances stop under them. Round robin sends every request and socket anywhere, so the ride
// only holds together because everything shared lives in Redis.

import { execFile, spawnSync } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

import { expect, test, type Page } from "@playwright/test";

import { carAt, clickMapAt, driverOnline, freshAccount, signUp } from "./support";

const FLEET = (process.env.HAIL_FLEET_URL ?? "").replace(/\/+$/, "");
const SCRIPT = path.resolve(__dirname, "../../scripts/fleet.sh");

interface Instance {
  name: string;
  pid: number;
  port: number;
  state: string;
}

/** `fleet.sh status`: one line per process, `<name> <pid> <port> <state>`. */
function instances(): Instance[] {
  const run = spawnSync("bash", [SCRIPT, "status"], { encoding: "utf8" });
  return run.stdout
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length === 4 && f[0].startsWith("hail-"))
    .map(([name, pid, port, state]) => ({ name, pid: Number(pid), port: Number(port), state }));
}

/** Live sockets one instance ever opened, from its own /metrics (never through the balancer). */
async function socketsOpened(instance: Instance): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${instance.port}/metrics`);
  const line = (await res.text()).split("\n").find((l) => l.startsWith("hail_sockets_opened_total "));
  return Number(line?.split(" ")[1] ?? NaN);
}

async function openedByInstance(): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const instance of instances()) counts.set(instance.name, await socketsOpened(instance));
  return counts;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Records every state the connection indicator takes from now on, in window.__states. */
async function recordConnection(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __states: string[] };
    const now = () => document.querySelector('[data-testid="connection"]')?.getAttribute("data-state") ?? "gone";
    w.__states = [now()];
    new MutationObserver(() => {
      const state = now();
      if (w.__states[w.__states.length - 1] !== state) w.__states.push(state);
    }).observe(document.body, { attributes: true, subtree: true, childList: true, attributeFilter: ["data-state"] });
  });
}

async function connectionStates(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __states: string[] }).__states);
}

/** A rider and a driver, both through the balancer, with the driver on the way to the pickup. */
async function rideUnderWay(rider: Page, driver: Page): Promise<void> {
  await driverOnline(driver, FLEET, "Fiona Fleet");
  await expect(driver.getByTestId("connection")).toHaveAttribute("data-state", "live");

  await signUp(rider, FLEET, freshAccount("rider", "Frank Fleet"));
  await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live");
  await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
  await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
  await expect(rider.getByTestId("quote-fare")).toHaveText(/^€\d+\.\d\d$/);
  await rider.getByRole("button", { name: "Request ride" }).click();
  await driver.getByTestId("offer").getByRole("button", { name: "Accept" }).click();
  await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way");
  await expect(rider.getByTestId("marker-car")).toHaveCount(1);
}

test.describe("a fleet behind nginx", () => {
  test.skip(!FLEET, "HAIL_FLEET_URL is not set: run the suite through scripts/e2e.sh");

  test.beforeEach(() => {
    // Every instance of the fleet answers before a test starts (an earlier test stops some).
    const fleet = instances();
    expect(fleet.length).toBe(3);
    for (const instance of fleet) expect(instance.state, instance.name).toBe("ready");
  });

  test("SIGTERM to the rider's instance: reconnecting, then live on another within 3 s", async ({ browser }) => {
    const riderContext = await browser.newContext();
    const driverContext = await browser.newContext();
    try {
      const rider = await riderContext.newPage();
      const driver = await driverContext.newPage();
      await rideUnderWay(rider, driver);

      // Which instance holds the rider's socket: open a new one alone and see whose count moves.
      const before = await openedByInstance();
      await rider.reload();
      await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live");
      await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way");
      const after = await openedByInstance();
      const gained = [...after].filter(([name, n]) => n > (before.get(name) ?? 0)).map(([name]) => name);
      expect(gained.length, `sockets opened before ${[...before]} after ${[...after]}`).toBe(1);
      const target = instances().find((i) => i.name === gained[0])!;
      await recordConnection(rider);

      const carBefore = await carAt(rider);
      const killedAt = Date.now();
      process.kill(target.pid, "SIGTERM");
      // The ride moves on while the rider's socket finds another instance.
      await driver.getByTestId("active-ride").getByRole("button", { name: "Arrived at pickup" }).click();

      await expect.poll(() => connectionStates(rider)).toContain("reconnecting");
      await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live", { timeout: 3_000 });
      expect(Date.now() - killedAt).toBeLessThan(3_000);
      const states = await connectionStates(rider);
      expect(states.filter((s) => s === "reconnecting").length, states.join(" → ")).toBe(1);
      expect(states).not.toContain("offline");

      // The status change made during the switch is shown, and the car keeps moving.
      await expect(rider.getByTestId("ride-status")).toHaveText("Your driver has arrived");
      await clickMapAt(driver, "Your position", 0.305, 0.385);
      await expect.poll(() => carAt(rider)).not.toBe(carBefore);

      // The stopped instance drained and exited within its drain (HAIL_DRAIN_SECS=5 here).
      await expect.poll(() => alive(target.pid), { timeout: 8_000 }).toBe(false);
      expect(instances().find((i) => i.name === target.name)?.state).not.toBe("ready");
    } finally {
      await riderContext.close();
      await driverContext.close();
      // The next test starts from a whole fleet again.
      await promisify(execFile)("bash", [SCRIPT, "restart"]);
    }
  });

  test("a rolling restart during a ride: positions keep coming, one short reconnecting at most", async ({ browser }) => {
    test.setTimeout(120_000);
    const riderContext = await browser.newContext();
    const driverContext = await browser.newContext();
    try {
      const rider = await riderContext.newPage();
      const driver = await driverContext.newPage();
      await rideUnderWay(rider, driver);
      await recordConnection(rider);
      const pidsBefore = instances().map((i) => i.pid);

      // The driver creeps along while the fleet is replaced under both of them; the rider's
      // map is sampled all the while.
      const restart = promisify(execFile)("bash", [SCRIPT, "restart"]);
      let restarting = true;
      restart.finally(() => (restarting = false)).catch(() => {});
      const seen = new Set<string>([await carAt(rider)]);
      let step = 0;
      while (restarting) {
        step += 1;
        await clickMapAt(driver, "Your position", 0.3 + 0.004 * (step % 5), 0.38 + 0.004 * (step % 5));
        await rider.waitForTimeout(700);
        seen.add(await carAt(rider));
      }
      const { stdout } = await restart;
      expect(stdout).toContain("hail-3");

      // Every instance is new and ready.
      const fleet = instances();
      for (const instance of fleet) {
        expect(instance.state, instance.name).toBe("ready");
        expect(pidsBefore).not.toContain(instance.pid);
      }
      // Positions kept arriving during the restart, and arrive after it.
      expect(seen.size, `positions seen: ${[...seen].join(" ")}`).toBeGreaterThan(3);
      const last = await carAt(rider);
      await clickMapAt(driver, "Your position", 0.33, 0.41);
      await expect.poll(() => carAt(rider)).not.toBe(last);
      // No status change was missed, and the rider was moved at most once.
      await driver.getByTestId("active-ride").getByRole("button", { name: "Arrived at pickup" }).click();
      await expect(rider.getByTestId("ride-status")).toHaveText("Your driver has arrived");
      await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live");
      const states = await connectionStates(rider);
      // Every old instance was drained, the rider's among them: moved exactly once (the ones not yet
      // replaced are nginx backups meanwhile, see scripts/fleet.sh).
      expect(states.filter((s) => s === "reconnecting").length, states.join(" → ")).toBe(1);
      expect(states).not.toContain("offline");
    } finally {
      await riderContext.close();
      await driverContext.close();
    }
  });
});
