// The whole ride through the screens: a rider in one browser context on instance A, a driver
// in another on instance B. Updates arrive live (or by polling while a socket is down), so every
// expectation waits.

import { expect, test } from "@playwright/test";

import { A, B, clickMapAt, cspViolations, freshAccount, goOffline, open, signUp } from "./support";

test("a whole ride from request to rating, rider on A and driver on B", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  // Every screen of the ride runs under the pages' Content-Security-Policy: none may complain.
  const riderViolations = await cspViolations(riderContext);
  const driverViolations = await cspViolations(driverContext);
  try {
    const rider = await riderContext.newPage();
    const driver = await driverContext.newPage();

    // The driver adds a car, puts themselves near Central Station and goes online.
    await signUp(driver, B, freshAccount("driver", "Dana Driver"));
    await driver.getByLabel("Make").fill("Toyota");
    await driver.getByLabel("Model").fill("Prius");
    await driver.getByLabel("Plate").fill("B-HX 123");
    await driver.getByRole("button", { name: "Save car" }).click();
    await expect(driver.getByText("Toyota Prius (B-HX 123)")).toBeVisible();
    await clickMapAt(driver, "Your position", 0.3, 0.38);
    await driver.getByRole("button", { name: "Go online" }).click();
    await expect(driver.getByTestId("driver-presence")).toHaveText(/You are online/);

    // The rider chooses from the places, sees the price and a driver nearby, and requests.
    await signUp(rider, A, freshAccount("rider", "Rita Rider"));
    await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
    await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
    await expect(rider.getByTestId("quote-fare")).toHaveText(/^€\d+\.\d\d$/);
    await expect(rider.getByTestId("quote-eta")).toHaveText(/a driver in about \d+ min/);
    const fare = await rider.getByTestId("quote-fare").innerText();
    await rider.getByRole("button", { name: "Request ride" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Looking for a driver…");

    // The driver sees the offer with its countdown, and accepts.
    const offer = driver.getByTestId("offer");
    await expect(offer).toBeVisible({ timeout: 15_000 });
    await expect(offer).toContainText("Central Station");
    await expect(offer).toContainText("Market Hall");
    await expect(offer).toContainText(fare);
    await expect(offer).toContainText(/\d+ s left/);
    await offer.getByRole("button", { name: "Accept" }).click();

    // The rider sees who is coming, and the PIN.
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way", { timeout: 15_000 });
    await expect(rider.getByTestId("driver-info")).toContainText("Dana Driver");
    await expect(rider.getByTestId("driver-info")).toContainText("B-HX 123");
    // The driver's car is on the rider's map from now on.
    await expect(rider.getByTestId("marker-car")).toHaveCount(1);
    const pin = (await rider.getByTestId("pickup-pin").innerText()).trim();
    expect(pin).toMatch(/^\d{4}$/);

    // Arrive, start with the rider's PIN, complete.
    const ride = driver.getByTestId("active-ride");
    await ride.getByRole("button", { name: "Arrived at pickup" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver has arrived", { timeout: 15_000 });
    await ride.getByLabel("Rider's PIN").fill(pin);
    await ride.getByRole("button", { name: "Start trip" }).click();
    await expect(rider.getByTestId("ride-status")).toHaveText("On the way to your destination", { timeout: 15_000 });
    await ride.getByRole("button", { name: "Complete trip" }).click();
    await expect(driver.getByTestId("earnings")).toContainText(fare, { timeout: 15_000 });

    // The rider rates the driver; the ride is in both histories.
    await expect(rider.getByTestId("last-ride-status")).toHaveText("Arrived. Thanks for riding with Hail", { timeout: 15_000 });
    await rider.getByRole("button", { name: "5 stars" }).click();
    await expect(rider.getByText("You rated this ride 5 of 5.")).toBeVisible({ timeout: 15_000 });
    await expect(rider.getByTestId("past-rides")).toContainText("Central Station → Market Hall");

    // Reloading on the other instance shows the same.
    await open(rider, B, "/rider");
    await expect(rider.getByTestId("past-rides")).toContainText("Central Station → Market Hall");
    await open(driver, A, "/driver");
    await expect(driver.getByTestId("earnings")).toContainText(fare);
    await goOffline(driver);
    expect([...riderViolations, ...driverViolations]).toEqual([]);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});
