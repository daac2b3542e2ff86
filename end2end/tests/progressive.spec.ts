// The rider's forms work without JavaScript: request from the lists, cancel, and, after a ride a
// driver (with JavaScript, on the other instance) takes to its end, rate. Each post is the
// browser's own; the server redirects back to the screen, which shows the new state.

import { expect, test, type Page } from "@playwright/test";

import { A, B, driverOnline, fillSignup, freshAccount, open } from "./support";

/** Requests Central Station → Market Hall from the lists, as a browser without JavaScript. */
async function requestFromLists(rider: Page): Promise<void> {
  await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
  await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
  await rider.getByRole("button", { name: "Request ride" }).click();
  await expect(rider).toHaveURL(`${A}/rider`);
}

test("without JavaScript a rider requests, cancels, rides and rates", async ({ browser }) => {
  const riderContext = await browser.newContext({ javaScriptEnabled: false });
  const driverContext = await browser.newContext();
  // Counts the tones the driver's page starts (an offer chimes once the page has been used).
  await driverContext.addInitScript(() => {
    const counted = window as unknown as { tones: number };
    counted.tones = 0;
    const start = OscillatorNode.prototype.start;
    OscillatorNode.prototype.start = function (...args: Parameters<typeof start>) {
      counted.tones += 1;
      return start.apply(this, args);
    };
  });
  try {
    const rider = await riderContext.newPage();
    await open(rider, A, "/signup", { js: false });
    await fillSignup(rider, freshAccount("rider", "Nadia NoScript"));
    await rider.getByRole("button", { name: "Sign up" }).click();
    await expect(rider).toHaveURL(`${A}/rider`);

    // Nothing chosen: the server says what is missing, and nothing is requested.
    await rider.getByRole("button", { name: "Request ride" }).click();
    await expect(rider.getByRole("alert").filter({ hasText: "choose a pickup from the list or on the map" })).toBeVisible();
    await expect(rider.getByTestId("active-ride")).toHaveCount(0);

    // Requested (no driver is online yet), then cancelled.
    await requestFromLists(rider);
    await expect(rider.getByTestId("ride-status")).toHaveText("Looking for a driver…");
    await expect(rider).toHaveTitle("Looking for a driver · Hail");
    await rider.getByRole("button", { name: "Cancel ride" }).click();
    await expect(rider.getByTestId("last-ride-status")).toHaveText("Cancelled");
    await expect(rider.getByTestId("active-ride")).toHaveCount(0);

    // A driver online on B takes the next request through to the end.
    const driver = await driverContext.newPage();
    await driverOnline(driver, B, "Otto Onscreen");
    await requestFromLists(rider);
    const offer = driver.getByTestId("offer");
    await expect(offer).toBeVisible({ timeout: 15_000 });
    await expect(driver).toHaveTitle(/^New offer · (\d+ s · )?Hail$/);
    // The driver has clicked on the page (going online), so the offer chimes.
    await expect.poll(() => driver.evaluate(() => (window as unknown as { tones: number }).tones)).toBeGreaterThan(0);
    await offer.getByRole("button", { name: "Accept" }).click();
    const ride = driver.getByTestId("active-ride");
    await expect(driver).toHaveTitle("Drive to the pickup · Hail");

    // Without a socket the rider sees news on each load of the page.
    await rider.reload();
    await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way");
    const pin = (await rider.getByTestId("pickup-pin").innerText()).trim();
    await ride.getByRole("button", { name: "Arrived at pickup" }).click();
    await ride.getByLabel("Rider's PIN").fill(pin);
    await ride.getByRole("button", { name: "Start trip" }).click();
    await ride.getByRole("button", { name: "Complete trip" }).click();
    await expect(ride).toHaveCount(0, { timeout: 15_000 });

    await rider.reload();
    await expect(rider.getByTestId("last-ride-status")).toHaveText("Arrived. Thanks for riding with Hail");
    await rider.getByRole("button", { name: "4 stars" }).click();
    await expect(rider).toHaveURL(`${A}/rider`);
    await expect(rider.getByText("You rated this ride 4 of 5.")).toBeVisible();
    await expect(rider.locator("body")).not.toHaveAttribute("data-hydrated", "true"); // really no JS

    // The driver is taken offline, so no later spec's ride is offered to them.
    await driver.getByRole("button", { name: "Go offline" }).click();
    await expect(driver.getByTestId("driver-presence")).toHaveText(/You are offline/);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});
