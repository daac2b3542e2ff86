// Routes on the map: the trip from the pickup to the drop-off along the city's streets before a
// ride is requested and during it, the driver's way to the pickup while they come, both
// following the car; and an ETA that counts down between positions without jumping.

import { expect, test, type Page } from "@playwright/test";

import { A, B, DEMO_A, freshAccount, goOffline, signUp } from "./support";

/** What one map draws, read in one go (viewBox units, as "x,y" strings). */
interface Drawn {
  streets: string[];
  route: string[] | null;
  approach: string[] | null;
  car: string | null;
  pickup: string | null;
  dropoff: string | null;
}

async function drawn(page: Page, label: string): Promise<Drawn> {
  return page.evaluate((label) => {
    const svg = [...document.querySelectorAll("svg.city-map__svg")].find((s) => s.getAttribute("aria-label") === label);
    if (!svg) throw new Error(`no map labelled ${label}`);
    const points = (el: Element | null) => el?.getAttribute("points")?.trim().split(/\s+/) ?? null;
    const at = (name: string) => {
      const transform = svg.querySelector(`[data-testid="marker-${name}"]`)?.getAttribute("transform");
      const m = transform?.match(/^translate\((\S+) (\S+)\)$/);
      return m ? `${m[1]},${m[2]}` : null;
    };
    return {
      streets: [...svg.querySelectorAll("polyline.city-map__street")].flatMap((s) => points(s) ?? []),
      route: points(svg.querySelector('[data-testid="route"]')),
      approach: points(svg.querySelector('[data-testid="approach-route"]')),
      car: at("car"),
      pickup: at("pickup"),
      dropoff: at("dropoff"),
    };
  }, label);
}

/** A line's length in viewBox units. */
function length(line: string[]): number {
  let total = 0;
  for (let i = 1; i < line.length; i++) {
    const [x0, y0] = line[i - 1].split(",").map(Number);
    const [x1, y1] = line[i].split(",").map(Number);
    total += Math.hypot(x1 - x0, y1 - y0);
  }
  return total;
}

/** The line runs from `from` to `to`, and every point between is a point of a street. */
function followsStreets(line: string[] | null, from: string | null, to: string | null, streets: string[]): void {
  expect(line, "the line is drawn").not.toBeNull();
  expect(line!.length).toBeGreaterThanOrEqual(3);
  expect(line![0]).toBe(from);
  expect(line![line!.length - 1]).toBe(to);
  const street = new Set(streets);
  for (const vertex of line!.slice(1, -1)) {
    expect(street.has(vertex), `${vertex} is a street point`).toBe(true);
  }
}

test("the trip is drawn along the streets before the request, and a demo driver's way to the pickup follows the car as the ETA counts down", async ({
  page,
}) => {
  const map = "Choose your pickup and drop-off";
  await signUp(page, DEMO_A, freshAccount("rider", "Rhea Route"));
  await page.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
  await expect(page.getByTestId("route")).toHaveCount(0);
  await page.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Harbour" });
  await expect(page.getByTestId("route")).toHaveCount(1);
  const before = await drawn(page, map);
  followsStreets(before.route, before.pickup, before.dropoff, before.streets);
  await expect(page.getByTestId("quote-fare")).toBeVisible();

  // A driver already at the pickup has no way to watch: then the ride is cancelled and asked
  // for again, up to three times.
  const ride = "Your ride on the map";
  let samples: { eta: number; approach: number; car: string }[] = [];
  for (let attempt = 0; attempt < 3 && samples.length < 12; attempt++) {
    await page.getByRole("button", { name: "Request ride" }).click();
    await expect(page.getByTestId("ride-status")).toHaveText("Your driver is on the way", { timeout: 20_000 });
    await expect(page.getByTestId("approach-route")).toHaveCount(1);
    samples = [];
    for (let i = 0; i < 32; i++) {
      const status = await page.getByTestId("ride-status").innerText();
      if (status !== "Your driver is on the way") break;
      const shown = await page.getByTestId("eta").getAttribute("data-eta-s");
      const now = await drawn(page, ride);
      if (shown === null || !now.approach) {
        // The first position is on its way.
        await page.waitForTimeout(250);
        continue;
      }
      const eta = Number(shown);
      // The approach starts at the car and ends at the pickup; the trip waits beyond it.
      followsStreets(now.approach, now.car, now.pickup, now.streets);
      followsStreets(now.route, now.pickup, now.dropoff, now.streets);
      samples.push({ eta, approach: length(now.approach), car: now.car! });
      await page.waitForTimeout(250);
    }
    await page.getByRole("button", { name: "Cancel ride" }).click();
    await expect(page.getByTestId("last-ride-status")).toBeVisible();
    if (samples.length < 12) {
      await page.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
      await page.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Harbour" });
    }
  }
  expect(samples.length, "the driver was watched coming for a few seconds").toBeGreaterThanOrEqual(12);

  // The car drove, and its way to the pickup shrank with it.
  const first = samples[0];
  const last = samples[samples.length - 1];
  expect(last.car).not.toBe(first.car);
  expect(last.approach).toBeLessThan(first.approach);
  // The ETA counts down between positions: never up, never a leap (a quarter second apart).
  for (let i = 1; i < samples.length; i++) {
    const step = samples[i].eta - samples[i - 1].eta;
    expect(step, `ETA ${samples[i - 1].eta} -> ${samples[i].eta}`).toBeLessThanOrEqual(1);
    expect(step, `ETA ${samples[i - 1].eta} -> ${samples[i].eta}`).toBeGreaterThanOrEqual(-8);
  }
  expect(last.eta).toBeLessThan(first.eta);
});

test("the driver sees the way to the offer's pickup, and the trip from the car on to the drop-off follows it", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  try {
    const rider = await riderContext.newPage();
    const driver = await driverContext.newPage();
    // Online at Old Town Square, nearer the pickup than where other specs put their drivers.
    await signUp(driver, B, freshAccount("driver", "Rob Route"));
    await driver.getByLabel("Make").fill("Škoda");
    await driver.getByLabel("Model").fill("Octavia");
    await driver.getByLabel("Plate").fill("B-RT 7");
    await driver.getByRole("button", { name: "Save car" }).click();
    await driver.getByLabel("Or choose a place").selectOption({ label: "Old Town Square" });
    await driver.getByRole("button", { name: "Go online" }).click();
    await expect(driver.getByTestId("driver-presence")).toHaveText(/You are online/);
    await signUp(rider, A, freshAccount("rider", "Ruth Route"));
    await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Market Hall" });
    await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Central Station" });
    await expect(rider.getByTestId("quote-fare")).toBeVisible();
    await rider.getByRole("button", { name: "Request ride" }).click();

    // The offer shows the way to its pickup from where the driver is, and the trip.
    await expect(driver.getByTestId("offer")).toBeVisible({ timeout: 15_000 });
    const offered = await drawn(driver, "Your position");
    followsStreets(offered.approach, offered.car, offered.pickup, offered.streets);
    followsStreets(offered.route, offered.pickup, offered.dropoff, offered.streets);
    await driver.getByTestId("offer").getByRole("button", { name: "Accept" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way", { timeout: 15_000 });
    const coming = await drawn(rider, "Your ride on the map");
    followsStreets(coming.approach, coming.car, coming.pickup, coming.streets);

    // At the pickup the approach is gone; during the trip the route starts at the car.
    const pin = (await rider.getByTestId("pickup-pin").innerText()).trim();
    const active = driver.getByTestId("active-ride");
    await active.getByRole("button", { name: "Arrived at pickup" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver has arrived");
    await expect(rider.getByTestId("approach-route")).toHaveCount(0);
    await active.getByLabel("Rider's PIN").fill(pin);
    await active.getByRole("button", { name: "Start trip" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("On the way to your destination", { timeout: 15_000 });
    const riding = await drawn(rider, "Your ride on the map");
    followsStreets(riding.route, riding.car, riding.dropoff, riding.streets);
    expect(riding.approach).toBeNull();

    // The driver moves on; the route on both screens starts where the car now is.
    // A short, plausible step: a little south-east of where the car is drawn.
    const car = (await driver.getByTestId("marker-car").boundingBox())!;
    await driver.mouse.click(car.x + car.width / 2 + 14, car.y + car.height / 2 + 10);
    await expect.poll(async () => (await drawn(rider, "Your ride on the map")).car).not.toBe(riding.car);
    for (const [page, label] of [
      [rider, "Your ride on the map"],
      [driver, "Your position"],
    ] as const) {
      await expect
        .poll(async () => {
          const now = await drawn(page, label);
          return now.route?.[0] === now.car && now.car !== riding.car;
        })
        .toBe(true);
      const now = await drawn(page, label);
      followsStreets(now.route, now.car, now.dropoff, now.streets);
    }

    await active.getByRole("button", { name: "Complete trip" }).click();
    await expect(active).toHaveCount(0, { timeout: 15_000 });
    await goOffline(driver);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});
