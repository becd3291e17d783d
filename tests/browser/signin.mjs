// SPDX-License-Identifier: MIT
// The person in a real browser: Debian's chromium, headless, driven by playwright-core (which
// downloads no browser). Signs in through server-rendered pages (a provider's login, consent and
// device pages) the way tests/interop/oidc/browser.py does over plain HTTP, but with rendering,
// JavaScript, cookies and the browser's own redirect handling; and takes screenshots of the
// pages a person sees.
//
//   signin.mjs [--login NAME] [--password PASSWORD] [--deny] [--redirect-uri URI]
//              [--screenshots DIR --screenshot-prefix NAME] [--user-code CODE] URL
//
// Usable as $BROWSER (one URL argument): the options then come from the environment
// (TESSERA_BROWSER_LOGIN, _PASSWORD, _DENY=1, _SCREENSHOTS, _SCREENSHOT_PREFIX, _USER_CODE).
//
// On each page with a POST form it fills the password field, the login/username/email field
// (when empty) and the user_code field, ticks confirm/consent boxes, and presses the form's first
// submit button (with --deny: a button or link named like abort/cancel/deny). With --screenshots
// it saves each such page, before typing, as DIR/PREFIX-N.png. It ends when the browser reaches
// the client's redirect URI (the authorization request's redirect_uri, or --redirect-uri): exit 0
// when that answered 2xx, 2 otherwise. Without a redirect URI (a device flow) it ends at the first
// page with nothing to submit, exit 0. Exit 3 when the pages lead nowhere, 1 on other errors.
// Logs paths, never queries (they carry codes and state), never the password.
import { chromium } from 'playwright-core';
import path from 'node:path';

const MAX_STEPS = 25;
const STEP_TIMEOUT_MS = 60000;
const DENY_WORDS = ['abort', 'cancel', 'deny', 'decline', 'reject'];
const LOGIN_NAMES = ['login', 'username', 'user', 'email'];

function parseOptions(argv) {
  const env = process.env;
  const options = {
    login: env.TESSERA_BROWSER_LOGIN || 'alice',
    password: env.TESSERA_BROWSER_PASSWORD || 'any password',
    deny: env.TESSERA_BROWSER_DENY === '1',
    redirectUri: '',
    screenshots: env.TESSERA_BROWSER_SCREENSHOTS || '',
    screenshotPrefix: env.TESSERA_BROWSER_SCREENSHOT_PREFIX || 'page',
    userCode: env.TESSERA_BROWSER_USER_CODE || '',
    browser: env.TESSERA_CHROMIUM || '/usr/bin/chromium',
    url: '',
  };
  const valued = {
    '--login': 'login', '--password': 'password', '--redirect-uri': 'redirectUri',
    '--screenshots': 'screenshots', '--screenshot-prefix': 'screenshotPrefix',
    '--user-code': 'userCode', '--chromium': 'browser',
  };
  for (let i = 0; i < argv.length; ++i) {
    const argument = argv[i];
    if (argument === '--deny') {
      options.deny = true;
    } else if (valued[argument] !== undefined && i + 1 < argv.length) {
      options[valued[argument]] = argv[++i];
    } else if (!argument.startsWith('--') && !options.url) {
      options.url = argument;
    } else {
      throw new Error(`unknown or incomplete argument: ${argument}`);
    }
  }
  if (!options.url)
    throw new Error('no URL given');
  if (!options.redirectUri)
    options.redirectUri = new URL(options.url).searchParams.get('redirect_uri') || '';
  return options;
}

function log(message) {
  process.stderr.write(`signin.mjs: ${message}\n`);
}

function shown(url) {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

// Same scheme, host, port and path: where the provider sends the browser back to the app.
function isRedirectTarget(url, redirectUri) {
  if (!redirectUri)
    return false;
  try {
    const a = new URL(url);
    const b = new URL(redirectUri);
    return a.protocol === b.protocol && a.hostname === b.hostname && a.pathname === b.pathname
        && (!b.port || a.port === b.port);
  } catch {
    return false;
  }
}

function isDeny(text) {
  const lowered = (text || '').toLowerCase();
  return DENY_WORDS.some((word) => lowered.includes(word));
}

// What a person would press on `form`: the first submit button that is (or, without --deny, is
// not) a refusal. With --deny and no such button, a refusal link anywhere on the page.
async function choosePress(page, form, deny) {
  for (const button of await form.$$('button[type=submit], button:not([type]), input[type=submit]')) {
    const text = [await button.getAttribute('name'), await button.getAttribute('value'),
                  await button.innerText().catch(() => '')].join(' ');
    if (isDeny(text) === deny)
      return button;
  }
  if (!deny)
    return null;
  for (const link of await page.$$('a[href]')) {
    if (isDeny(await link.innerText().catch(() => '')))
      return link;
  }
  return null;
}

async function fill(form, options) {
  for (const input of await form.$$('input')) {
    const type = ((await input.getAttribute('type')) || 'text').toLowerCase();
    const name = ((await input.getAttribute('name')) || '').toLowerCase();
    if (type === 'password') {
      await input.fill(options.password);
    } else if ((type === 'text' || type === 'email') && LOGIN_NAMES.includes(name)) {
      if (!(await input.inputValue()))
        await input.fill(options.login);
    } else if (type === 'text' && name === 'user_code' && options.userCode) {
      if (!(await input.inputValue()))
        await input.fill(options.userCode);
    } else if (type === 'checkbox' && ['confirm', 'consent', 'remember'].includes(name)) {
      await input.check();
    }
  }
}

async function run(options) {
  const browser = await chromium.launch({
    executablePath: options.browser,
    // As root (CI) chromium refuses to start with its sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--no-proxy-server'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    let landedStatus = null;
    page.on('response', (response) => {
      if (response.request().isNavigationRequest() && response.request().frame() === page.mainFrame()
          && isRedirectTarget(response.url(), options.redirectUri)) {
        landedStatus = response.status();
      }
    });
    log(`GET ${shown(options.url)}`);
    await page.goto(options.url, { waitUntil: 'load' }).catch((error) => {
      // A redirect straight to the app ends the navigation elsewhere: the listener saw it.
      if (landedStatus === null)
        throw error;
    });
    let screenshot = 0;
    for (let step = 0; step < MAX_STEPS; ++step) {
      if (landedStatus !== null) {
        log(`redirected to the client, which answered ${landedStatus}`);
        return landedStatus >= 200 && landedStatus < 300 ? 0 : 2;
      }
      const forms = [];
      for (const form of await page.$$('form')) {
        if (((await form.getAttribute('method')) || 'get').toLowerCase() === 'post'
            && await form.isVisible())
          forms.push(form);
      }
      if (forms.length === 0) {
        if (!options.redirectUri) {
          log(`nothing more to submit at ${shown(page.url())}`);
          return 0;
        }
        log(`no form and no redirect to the client at ${shown(page.url())}`);
        return 3;
      }
      const form = forms[0];
      if (options.screenshots) {
        ++screenshot;
        const file = path.join(options.screenshots, `${options.screenshotPrefix}-${screenshot}.png`);
        await page.screenshot({ path: file, fullPage: true });
        log(`screenshot ${file}`);
      }
      if (!options.deny)
        await fill(form, options);
      const press = await choosePress(page, form, options.deny);
      if (!press) {
        log(`nothing to press at ${shown(page.url())}`);
        return 3;
      }
      log(`submit at ${shown(page.url())}`);
      await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }).catch((error) => {
          if (landedStatus === null)
            throw error;
        }),
        press.click(),
      ]);
    }
    log('too many pages');
    return 3;
  } finally {
    await browser.close();
  }
}

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  log(error.message);
  process.exit(1);
}
run(options).then((code) => process.exit(code), (error) => {
  log(`failed: ${error.message.split('\n')[0].replace(/\?[^\s"']*/g, '?...')}`);
  process.exit(1);
});
