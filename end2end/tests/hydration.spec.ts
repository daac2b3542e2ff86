// A full page load hydrates cleanly: the server's render and the browser's first render agree, so
// no load panics and the page answers afterwards. Loaded again and again on a busy map (demo
// drivers running, free cars pushed), alternating between two instances, where a mismatch once
// showed on about half of the loads.

import { expect, test, type Page } from "@playwright/test";

import { DEMO_A, DEMO_B, freshAccount, hydrated, signUp } from "./support";

const LOADS = 20;

/** Collects what the page reports as broken: console errors (a Rust panic is one) and uncaught exceptions. */
function watchForPanics(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => problems.push(`${error.name}: ${error.message}`));
  return problems;
}

for (const role of ["rider", "driver"] as const) {
  test(`the ${role}'s screen hydrates without a panic on ${LOADS} loads among demo drivers`, async ({ page }) => {
    test.setTimeout(LOADS * 8_000 + 30_000);
    await signUp(page, DEMO_A, freshAccount(role, role === "rider" ? "Hana Hydrate" : "Dev Hydrate"));
    const problems = watchForPanics(page);
    for (let load = 0; load < LOADS; load += 1) {
      const base = load % 2 === 0 ? DEMO_A : DEMO_B;
      await page.goto(`${base}/${role}`);
      await hydrated(page);
      // Whatever pushes arrive meanwhile (free cars move every second), the page still answers.
      if (role === "rider") {
        await page.getByLabel("Pickup", { exact: true }).selectOption({ label: "Central Station" });
        await expect(page.getByTestId("trip-summary")).toHaveText("Choose a drop-off.");
      } else {
        await expect(page.getByTestId("driver-presence")).toHaveText(/You are offline/);
        await expect(page.getByTestId("connection")).toHaveAttribute("data-state", "live");
      }
      expect(problems, `load ${load + 1} on ${base}`).toEqual([]);
    }
  });
}
