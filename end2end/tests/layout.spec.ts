// Map-first screens on a phone (390x844) and a wide screen (1280x900): the map covers most of
// the screen, the controls sit in a bottom sheet or a side panel, nothing scrolls sideways at
// 360 px, and the sheet opens and closes by touch and keyboard. Screenshots of each state are
// kept as test artifacts (test-results/).

import { expect, test, type Page, type TestInfo } from "@playwright/test";

import { A, B, DEMO_A, driverOnline, freshAccount, signUp } from "./support";

const PHONE = { width: 390, height: 844 };
const WIDE = { width: 1280, height: 900 };

/** The share of the viewport the map's box covers. */
async function mapShare(page: Page): Promise<number> {
  return page.evaluate(() => {
    const map = document.querySelector("figure.city-map");
    if (!map) return 0;
    const r = map.getBoundingClientRect();
    const w = Math.max(0, Math.min(r.right, innerWidth) - Math.max(r.left, 0));
    const h = Math.max(0, Math.min(r.bottom, innerHeight) - Math.max(r.top, 0));
    return (w * h) / (innerWidth * innerHeight);
  });
}

async function shot(page: Page, info: TestInfo, name: string): Promise<void> {
  const path = info.outputPath(`${name}.png`);
  await page.screenshot({ path });
  await info.attach(name, { path, contentType: "image/png" });
}

for (const [size, viewport] of [
  ["phone", PHONE],
  ["wide", WIDE],
] as const) {
  test(`the screens are map-first on a ${size} screen (${viewport.width}x${viewport.height})`, async ({ browser }, info) => {
    const riderContext = await browser.newContext({ viewport, hasTouch: size === "phone" });
    const driverContext = await browser.newContext({ viewport, hasTouch: size === "phone" });
    try {
      const rider = await riderContext.newPage();
      const driver = await driverContext.newPage();

      // Idle among the demo city's free cars.
      await signUp(rider, DEMO_A, freshAccount("rider", "Maya Map"));
      await expect(rider.getByTestId("marker-nearby").first()).toBeVisible({ timeout: 15_000 });
      expect(await mapShare(rider)).toBeGreaterThanOrEqual(0.6);
      await shot(rider, info, `rider-idle-${size}`);
      await riderContext.clearCookies();

      await driverOnline(driver, B, "Mo Map");
      await signUp(rider, A, freshAccount("rider", "Maya Map"));
      await rider.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
      await rider.getByLabel("Drop-off", { exact: true }).selectOption({ label: "Market Hall" });
      await expect(rider.getByTestId("quote-fare")).toBeVisible();
      await expect(rider.getByTestId("route")).toBeVisible();
      await shot(rider, info, `rider-quote-${size}`);
      await rider.getByRole("button", { name: "Request ride" }).click();

      const offer = driver.getByTestId("offer");
      await expect(offer).toBeVisible({ timeout: 15_000 });
      await expect(driver.getByTestId("approach-route")).toBeVisible();
      expect(await mapShare(driver)).toBeGreaterThanOrEqual(0.6);
      await shot(driver, info, `driver-offer-${size}`);
      await offer.getByRole("button", { name: "Accept" }).click();
      await expect(rider.getByTestId("ride-status")).toHaveText("Your driver is on the way", { timeout: 15_000 });
      expect(await mapShare(rider)).toBeGreaterThanOrEqual(0.6);
      await shot(rider, info, `rider-driver-coming-${size}`);

      const pin = (await rider.getByTestId("pickup-pin").innerText()).trim();
      const ride = driver.getByTestId("active-ride");
      await ride.getByRole("button", { name: "Arrived at pickup" }).click();
      await ride.getByLabel("Rider's PIN").fill(pin);
      await ride.getByRole("button", { name: "Start trip" }).click();
      await expect(rider.getByTestId("ride-status")).toHaveText("On the way to your destination", { timeout: 15_000 });
      await expect(rider.getByTestId("route")).toBeVisible();
      await shot(rider, info, `rider-in-trip-${size}`);
      await shot(driver, info, `driver-in-trip-${size}`);

      const sheet = rider.getByTestId("sheet");
      const handle = sheet.getByRole("button", { name: /Show (details|the map)/ });
      if (size === "phone") {
        // A phone starts with the sheet down; a tap brings it up, the keyboard takes it down.
        await expect(sheet).toHaveAttribute("data-expanded", "false");
        const low = (await sheet.boundingBox())!.y;
        await handle.tap();
        await expect(sheet).toHaveAttribute("data-expanded", "true");
        await expect(handle).toHaveAttribute("aria-expanded", "true");
        await expect.poll(async () => (await sheet.boundingBox())!.y).toBeLessThan(low - 100);
        await handle.focus();
        await rider.keyboard.press("Enter");
        await expect(sheet).toHaveAttribute("data-expanded", "false");
        await rider.keyboard.press("Space");
        await expect(sheet).toHaveAttribute("data-expanded", "true");
        await rider.keyboard.press("Escape");
        await expect(sheet).toHaveAttribute("data-expanded", "false");
        await expect(handle).toBeFocused();
        // An Escape typed into a field is the field's own: the sheet stays up.
        await handle.tap();
        await expect(sheet).toHaveAttribute("data-expanded", "true");
        await rider.getByLabel("Latitude").focus();
        await rider.keyboard.press("Escape");
        await expect(sheet).toHaveAttribute("data-expanded", "true");
        // Touch targets are at least 44 px high.
        for (const button of await rider.getByRole("button").all()) {
          if (!(await button.isVisible())) continue;
          expect((await button.boundingBox())!.height, await button.innerText()).toBeGreaterThanOrEqual(44);
        }
      } else {
        // A side panel beside the map, no handle.
        await expect(handle).toBeHidden();
        const panel = (await sheet.boundingBox())!;
        expect(panel.x).toBeGreaterThan(viewport.width / 2);
      }

      // No sideways scrolling, down to 360 px.
      await rider.setViewportSize({ width: 360, height: 740 });
      expect(await rider.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);

      await ride.getByRole("button", { name: "Complete trip" }).click();
      await expect(ride).toHaveCount(0, { timeout: 15_000 });
      await driver.getByRole("button", { name: "Go offline" }).click();
      await expect(driver.getByTestId("driver-presence")).toHaveText(/You are offline/);
    } finally {
      await riderContext.close();
      await driverContext.close();
    }
  });
}
