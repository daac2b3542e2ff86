// Installable: every page names a web app manifest whose icons are served, and a theme colour.

import { expect, test } from "@playwright/test";

import { A, B } from "./support";

test("every page links a manifest with served icons and a theme colour", async ({ page, request }) => {
  await page.goto(`${A}/`);
  await expect(page.locator('meta[name="theme-color"]')).toHaveAttribute("content", /^#[0-9a-f]{6}$/);
  const href = await page.locator('link[rel="manifest"]').getAttribute("href");
  expect(href).toBe("/manifest.webmanifest");

  // From either instance: the site's files are the same everywhere.
  const answer = await request.get(`${B}${href}`);
  expect(answer.status()).toBe(200);
  expect(answer.headers()["content-type"]).toContain("manifest+json");
  const manifest = await answer.json();
  expect(manifest).toMatchObject({ name: "Hail", start_url: "/", display: "standalone" });
  const sizes = manifest.icons.map((icon: { sizes: string }) => icon.sizes);
  expect(sizes).toEqual(expect.arrayContaining(["192x192", "512x512"]));
  for (const icon of manifest.icons) {
    const image = await request.get(`${A}${icon.src}`);
    expect(image.status(), icon.src).toBe(200);
    expect(image.headers()["content-type"]).toBe(icon.type);
  }
  // The tab's icon is named, so no browser asks for a /favicon.ico that is not there.
  await expect(page.locator('link[rel="icon"]')).toHaveAttribute("href", "/icon.svg");
});
