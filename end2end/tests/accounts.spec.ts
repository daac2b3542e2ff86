// Accounts and sessions across two instances: a session made on one is honoured by the other,
// because both keep sessions in the same Redis and the cookie reaches both (same host).

import { expect, test } from "@playwright/test";

import { A, B, accountNav, fillSignup, freshAccount, open, signUp, who } from "./support";

test("signing up on instance A keeps you logged in on instance B", async ({ page }) => {
  const rider = freshAccount("rider");

  await signUp(page, A, rider);
  await expect(page.getByRole("heading", { level: 1, name: "Rider", exact: true })).toBeVisible();

  await open(page, B, "/rider");
  await expect(who(page)).toHaveText(`Logged in as ${rider.name} (rider)`);
  await expect(page.getByRole("heading", { level: 1, name: "Rider", exact: true })).toBeVisible();

  await accountNav(page).getByRole("button", { name: "Log out" }).click();
  await expect(accountNav(page).getByRole("link", { name: "Log in" })).toBeVisible();

  await open(page, A, "/rider");
  await expect(accountNav(page).getByRole("link", { name: "Log in" })).toBeVisible();
  await expect(who(page)).toHaveCount(0);
  await expect(page.getByRole("heading", { level: 1, name: "The rider screen" })).toBeVisible();
});

test("a rider and a driver in two browser contexts on two instances", async ({ browser }) => {
  const riderContext = await browser.newContext();
  const driverContext = await browser.newContext();
  try {
    const riderPage = await riderContext.newPage();
    const driverPage = await driverContext.newPage();
    const rider = freshAccount("rider");
    const driver = freshAccount("driver");

    await signUp(riderPage, A, rider);
    await signUp(driverPage, B, driver);

    // Each sees their own screen, on either instance.
    await open(riderPage, B, "/rider");
    await expect(riderPage.getByRole("heading", { level: 1, name: "Rider", exact: true })).toBeVisible();
    await expect(who(riderPage)).toHaveText(`Logged in as ${rider.name} (rider)`);
    await open(driverPage, A, "/driver");
    await expect(driverPage.getByRole("heading", { level: 1, name: "Driver", exact: true })).toBeVisible();
    await expect(who(driverPage)).toHaveText(`Logged in as ${driver.name} (driver)`);

    // And is turned away from the other role's screen.
    await open(riderPage, B, "/driver");
    await expect(riderPage.getByRole("heading", { level: 1, name: "This screen is for drivers" })).toBeVisible();
    await expect(riderPage.getByRole("heading", { level: 1, name: "Driver", exact: true })).toHaveCount(0);
    await open(driverPage, A, "/rider");
    await expect(driverPage.getByRole("heading", { level: 1, name: "This screen is for riders" })).toBeVisible();
    await expect(driverPage.getByRole("heading", { level: 1, name: "Rider", exact: true })).toHaveCount(0);
  } finally {
    await riderContext.close();
    await driverContext.close();
  }
});

test("a refused sign-up without JavaScript keeps the typed email", async ({ page, browser }) => {
  const first = freshAccount("rider");
  await signUp(page, A, first);

  const noJs = await browser.newContext({ javaScriptEnabled: false });
  try {
    const form = await noJs.newPage();
    // The same email in capitals: emails are compared without regard to case.
    const again = { ...freshAccount("rider", "Second Rita"), email: first.email.toUpperCase() };
    await open(form, A, "/signup", { js: false });
    await fillSignup(form, again);
    await form.getByRole("button", { name: "Sign up" }).click();

    await expect(form).toHaveURL(`${A}/signup`);
    await expect(form.locator("body")).not.toHaveAttribute("data-hydrated", "true"); // really no JS
    await expect(form.getByRole("alert").filter({ hasText: "that email is already registered" })).toBeVisible();
    await expect(form.getByLabel("Email", { exact: true })).toHaveValue(again.email);
    await expect(form.getByLabel("Name", { exact: true })).toHaveValue(again.name);
    await expect(form.getByLabel("Password", { exact: true })).toHaveValue("");
    await expect(who(form)).toHaveCount(0);

    // A wrong password is refused the same way, on the login form.
    await open(form, A, "/login", { js: false });
    await form.getByLabel("Email", { exact: true }).fill(first.email);
    await form.getByLabel("Password", { exact: true }).fill("not the password");
    await form.getByRole("button", { name: "Log in" }).click();

    await expect(form).toHaveURL(`${A}/login`);
    await expect(form.getByRole("alert").filter({ hasText: "email or password is wrong" })).toBeVisible();
    await expect(form.getByLabel("Email", { exact: true })).toHaveValue(first.email);
    await expect(form.getByLabel("Password", { exact: true })).toHaveValue("");
    await expect(who(form)).toHaveCount(0);
  } finally {
    await noJs.close();
  }
});
