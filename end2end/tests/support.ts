// What the specs share: the two instances, fresh accounts, and the steps every test repeats.

import { expect, type BrowserContext, type Locator, type Page } from "@playwright/test";

export type Role = "rider" | "driver";

function instance(name: "HAIL_URL_A" | "HAIL_URL_B" | "HAIL_DEMO_URL_A" | "HAIL_DEMO_URL_B"): string {
  const url = process.env[name];
  if (!url) throw new Error(`${name} is not set; run the suite through scripts/e2e.sh`);
  return url.replace(/\/+$/, "");
}

/** The two Hail instances; they share one Redis and nothing else. */
export const A = instance("HAIL_URL_A");
export const B = instance("HAIL_URL_B");
/** Two more instances in a city of their own (their own key prefix), where six demo drivers run. */
export const DEMO_A = instance("HAIL_DEMO_URL_A");
export const DEMO_B = instance("HAIL_DEMO_URL_B");

export const PASSWORD = "correct horse battery";

export interface Account {
  name: string;
  email: string;
  password: string;
  role: Role;
}

/** A new account nobody has used: a unique email for every call. */
export function freshAccount(role: Role, name = role === "rider" ? "Rita Rider" : "Dan Driver"): Account {
  const unique = `${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  return { name, email: `${role}-${unique}@example.com`, password: PASSWORD, role };
}

/** Resolves once the app has hydrated the page (it sets data-hydrated="true" on <body>). */
export async function hydrated(page: Page): Promise<void> {
  await page.locator('body[data-hydrated="true"]').waitFor();
}

/** Opens `path` on an instance and, unless JavaScript is off, waits for hydration. */
export async function open(page: Page, base: string, path: string, opts: { js?: boolean } = {}): Promise<void> {
  await page.goto(base + path);
  if (opts.js !== false) await hydrated(page);
}

/** The account part of the page header. */
export function accountNav(page: Page): Locator {
  return page.getByRole("navigation", { name: "Account" });
}

/** The header's "Logged in as <name> (<role>)". */
export function who(page: Page): Locator {
  return page.getByTestId("who");
}

/** Fills the sign-up form that is open on `page`, without submitting it. */
export async function fillSignup(page: Page, account: Account): Promise<void> {
  await page.getByLabel("Name", { exact: true }).fill(account.name);
  await page.getByLabel("Email", { exact: true }).fill(account.email);
  await page.getByLabel("Password", { exact: true }).fill(account.password);
  await page.getByRole("radio", { name: account.role === "rider" ? "ride (rider)" : "drive (driver)" }).check();
}

/** Signs up through the form on `base` and checks that it lands on the account's own screen. */
export async function signUp(page: Page, base: string, account: Account): Promise<void> {
  await open(page, base, "/signup");
  await fillSignup(page, account);
  await page.getByRole("button", { name: "Sign up" }).click();
  await expect(page).toHaveURL(`${base}/${account.role}`);
  await expect(who(page)).toHaveText(`Logged in as ${account.name} (${account.role})`);
}

/**
 * Clicks a map (an SVG with role img, named `label`) at a fraction of the drawn city's width and
 * height: the city's land, which the screen's map letterboxes inside its box.
 */
export async function clickMapAt(page: Page, label: string, fx: number, fy: number): Promise<void> {
  const map = page.getByRole("img", { name: label });
  const box = await map.locator(".city-map__land").boundingBox();
  if (!box) throw new Error(`map ${label} is not visible`);
  await page.mouse.click(box.x + box.width * fx, box.y + box.height * fy);
}

/** Where the rider's map shows the driver's car, as "lat,lng". */
export async function carAt(page: Page): Promise<string> {
  const car = page.getByTestId("marker-car");
  return `${await car.getAttribute("data-lat")},${await car.getAttribute("data-lng")}`;
}

/** A new driver signed up on `base`, with a car, online near Central Station. */
export async function driverOnline(driver: Page, base: string, name: string): Promise<void> {
  await signUp(driver, base, freshAccount("driver", name));
  await driver.getByLabel("Make").fill("Škoda");
  await driver.getByLabel("Model").fill("Octavia");
  await driver.getByLabel("Plate").fill("B-LV 42");
  await driver.getByRole("button", { name: "Save car" }).click();
  await clickMapAt(driver, "Your position", 0.3, 0.38);
  await driver.getByRole("button", { name: "Go online" }).click();
  await expect(driver.getByTestId("driver-presence")).toHaveText(/You are online/);
}

/** Takes the driver offline, so that no later spec's ride is offered to a driver who is gone. */
export async function goOffline(driver: Page): Promise<void> {
  await driver.getByRole("button", { name: "Go offline" }).click();
  await expect(driver.getByTestId("driver-presence")).toHaveText(/You are offline/);
}

/**
 * Content-Security-Policy violations reported in `context`'s pages, as they come: each page
 * reports its own (the `securitypolicyviolation` event) and Chromium logs them too.
 */
export async function cspViolations(context: BrowserContext): Promise<string[]> {
  const seen: string[] = [];
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  context.on("console", (message) => {
    const text = message.text();
    if (text.startsWith("CSP violation:") || text.includes("Content Security Policy")) {
      seen.push(`${message.page()?.url() ?? "?"}: ${text}`);
    }
  });
  return seen;
}
