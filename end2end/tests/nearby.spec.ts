// Free cars on an idle rider's map, pushed: the rider on instance A watches the city's map
// cells over the live socket, a driver on instance B moves, and the car moves on the rider's
// map while /api/nearby is read once at most (for the first paint).

import { expect, test, type Page } from "@playwright/test";

import { A, B, clickMapAt, driverOnline, freshAccount, signUp } from "./support";

/** Where the driver's own map puts their car (online), as "lat,lng". */
async function youAt(driver: Page): Promise<string> {
  const you = driver.getByTestId("marker-car");
  return `${await you.getAttribute("data-lat")},${await you.getAttribute("data-lng")}`;
}

/** Where the rider's map shows free cars, as "lat,lng" each. */
async function freeCars(rider: Page): Promise<string[]> {
  return rider
    .getByTestId("marker-nearby")
    .evaluateAll((cars) => cars.map((c) => `${c.getAttribute("data-lat")},${c.getAttribute("data-lng")}`));
}

test("an idle rider's free cars move as pushed, with /api/nearby read at most once", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  try {
    const rider = await riderContext.newPage();
    const driver = await driverContext.newPage();
    await driverOnline(driver, B, "Nina Nearby");

    let nearbyReads = 0;
    rider.on("request", (request) => {
      if (new URL(request.url()).pathname === "/api/nearby") nearbyReads += 1;
    });
    await signUp(rider, A, freshAccount("rider", "Nora Rider"));
    await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live");
    const first = await youAt(driver);
    await expect.poll(async () => (await freeCars(rider)).includes(first), { timeout: 15_000 }).toBe(true);

    // Two plausible steps; each shows on the rider's map by push.
    for (const [fx, fy] of [
      [0.305, 0.385],
      [0.31, 0.39],
    ]) {
      const before = await youAt(driver);
      await clickMapAt(driver, "Your position", fx, fy);
      await expect.poll(() => youAt(driver)).not.toBe(before);
      const now = await youAt(driver);
      await expect.poll(async () => (await freeCars(rider)).includes(now), { timeout: 15_000 }).toBe(true);
    }
    expect(nearbyReads).toBeLessThanOrEqual(1);
    await expect(rider.getByTestId("connection")).toHaveAttribute("data-state", "live");

    // Offline, the car leaves the rider's map (and no later spec's ride is offered to it).
    const last = await youAt(driver);
    await driver.getByRole("button", { name: "Go offline" }).click();
    await expect(driver.getByTestId("driver-presence")).toHaveText(/You are offline/);
    await expect.poll(async () => (await freeCars(rider)).includes(last)).toBe(false);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});
