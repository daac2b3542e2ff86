// The saved location lives in the shared store: saved through one instance, read on the other.

import { expect, test } from "@playwright/test";

import { A, B, freshAccount, open, signUp } from "./support";

test("a location saved on A is read back on B", async ({ page }) => {
  await signUp(page, A, freshAccount("rider"));
  const saved = page.getByTestId("saved-location");
  await expect(saved).toHaveText("No location saved yet.");

  await page.getByLabel("Latitude").fill("52.52");
  await page.getByLabel("Longitude").fill("13.405");
  await page.getByRole("button", { name: "Save location" }).click();
  await expect(saved).toHaveText("Saved: 52.52000, 13.40500");

  await open(page, B, "/rider");
  await expect(page.getByTestId("saved-location")).toHaveText("Saved: 52.52000, 13.40500");
});

test("a latitude that is not a number is refused beside the field", async ({ page }) => {
  await signUp(page, A, freshAccount("rider"));

  await page.getByLabel("Latitude").fill("abc");
  await page.getByLabel("Longitude").fill("13.405");
  await page.getByRole("button", { name: "Save location" }).click();

  const latitude = page.getByLabel("Latitude");
  await expect(page.locator("#lat-error")).toHaveText("latitude must be a number, like 52.5200");
  await expect(latitude).toHaveAttribute("aria-invalid", "true");
  await expect(latitude).toHaveAccessibleDescription("latitude must be a number, like 52.5200");
  await expect(page.getByTestId("saved-location")).toHaveText("No location saved yet.");
});
