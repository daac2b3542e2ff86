// Accessibility: every screen, in the states a person meets, passes an axe-core scan with no
// serious or critical violation. axe-core (from npm) is evaluated in the page through
// Playwright, which the pages' Content-Security-Policy does not govern.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

import { expect, test, type Page } from "@playwright/test";

import { A, B, DEMO_A, driverOnline, freshAccount, open, signUp } from "./support";

const axeSource = readFileSync(createRequire(__filename).resolve("axe-core/axe.min.js"), "utf8");

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/** The serious and critical violations on the page as it is now, one line each. */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document) => Promise<{ violations: Violation[] }> } }).axe;
    const result = await axe.run(document);
    return result.violations;
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

test("the home, sign-up and login pages pass axe-core", async ({ page }) => {
  for (const path of ["/", "/signup", "/login"]) {
    await open(page, A, path);
    expect(await seriousViolations(page), path).toEqual([]);
  }
  // The scan does find what it should: a button with no name, planted on the page.
  await page.evaluate(() => document.querySelector("main")?.append(document.createElement("button")));
  expect((await seriousViolations(page)).join("\n")).toContain("critical button-name");
});

test("the rider's and driver's screens pass axe-core in each state", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  try {
    const rider = await riderContext.newPage();
    const driver = await driverContext.newPage();

    // Idle, with the free cars of the demo city on the map.
    await signUp(rider, DEMO_A, freshAccount("rider", "Ally Axe"));
    await expect(rider.getByTestId("marker-nearby").first()).toBeVisible({ timeout: 15_000 });
    expect(await seriousViolations(rider), "rider, idle").toEqual([]);
    await riderContext.clearCookies();

    // The quote, then a ride searching, then one whose driver is coming.
    await driverOnline(driver, B, "Axel Driver");
    expect(await seriousViolations(driver), "driver, online").toEqual([]);
    await signUp(rider, A, freshAccount("rider", "Ally Axe"));
    await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
    await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
    await expect(rider.getByTestId("quote-fare")).toBeVisible();
    expect(await seriousViolations(rider), "rider, quote").toEqual([]);
    await rider.getByRole("button", { name: "Request ride" }).click();
    const offer = driver.getByTestId("offer");
    await expect(offer).toBeVisible({ timeout: 15_000 });
    expect(await seriousViolations(driver), "driver, offer").toEqual([]);
    await offer.getByRole("button", { name: "Accept" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way", { timeout: 15_000 });
    expect(await seriousViolations(rider), "rider, driver coming").toEqual([]);
    expect(await seriousViolations(driver), "driver, ride").toEqual([]);

    // The rider cancels, and the driver goes offline (no later spec's ride goes to them).
    await rider.getByRole("button", { name: "Cancel ride" }).click();
    await expect(rider.getByTestId("last-ride-status")).toHaveText("Cancelled", { timeout: 15_000 });
    expect(await seriousViolations(rider), "rider, last ride").toEqual([]);
    await expect(driver.getByTestId("active-ride")).toHaveCount(0, { timeout: 15_000 });
    await driver.getByRole("button", { name: "Go offline" }).click();
    await expect(driver.getByTestId("driver-presence")).toHaveText(/You are offline/);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});

test("status changes are announced, and the focus follows the panel a keyboard user's action opened", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  try {
    const rider = await riderContext.newPage();
    const driver = await driverContext.newPage();
    await driverOnline(driver, B, "Ada Announce");
    await signUp(rider, A, freshAccount("rider", "Ravi Announce"));

    // The live region is in the page from the start, silent until something changes.
    const said = rider.getByTestId("announcer");
    await expect(said).toHaveAttribute("aria-live", "polite");
    await expect(said).toHaveText("");

    // Requested from the keyboard: the Request button goes with its form, and the focus goes
    // to the ride's heading rather than being lost to the page.
    await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
    await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
    await expect(rider.getByTestId("quote-fare")).toBeVisible();
    await rider.getByRole("button", { name: "Request ride" }).focus();
    await rider.keyboard.press("Enter");
    await expect(rider.getByRole("heading", { name: "Your ride", exact: true })).toBeFocused();
    await expect(said).toHaveText("Looking for a driver…");

    // The driver accepts from the keyboard: the focus goes to the ride, each step is said.
    const offer = driver.getByTestId("offer");
    await expect(offer).toBeVisible({ timeout: 15_000 });
    await offer.getByRole("button", { name: "Accept" }).focus();
    await driver.keyboard.press("Enter");
    await expect(driver.getByRole("heading", { name: /^Ride for / })).toBeFocused();
    await expect(driver.getByTestId("announcer")).toHaveText("Drive to the pickup");
    await expect(said).toHaveText("Your driver is on the way");
    // The map's text alternative: its label, and the status and ETA lines as its description.
    await expect(rider.getByRole("img", { name: "Your ride on the map" })).toHaveAccessibleDescription(
      /^Your driver is on the way Your driver is about \d+ min away$/,
    );

    await driver.getByTestId("active-ride").getByRole("button", { name: "Arrived at pickup" }).focus();
    await driver.keyboard.press("Enter");
    await expect(driver.getByTestId("announcer")).toHaveText(/^At the pickup/);
    await expect(driver.getByRole("heading", { name: /^Ride for / })).toBeFocused();
    await expect(said).toHaveText("Your driver has arrived");

    // The rider cancels from the keyboard: the focus goes to how the last ride ended, and the
    // driver hears of it.
    await rider.getByRole("button", { name: "Cancel ride" }).focus();
    await rider.keyboard.press("Enter");
    await expect(rider.getByRole("heading", { name: "Your last ride" })).toBeFocused();
    await expect(driver.getByTestId("announcer")).toHaveText("The rider cancelled the ride.");

    await driver.getByRole("button", { name: "Go offline" }).click();
    await expect(driver.getByTestId("driver-presence")).toHaveText(/You are offline/);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});
