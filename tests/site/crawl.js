// Crawls the static site written by `duckmarc html --site DIR` in headless Chromium and prints
// one JSON object on stdout: pages visited, *.html files on disk, broken links, requests the
// pages made, elements wider than a phone, and axe-core's serious/critical violations.
//   node tests/site/crawl.js SITE_DIR CHROMIUM_PATH
// Exits 0 whenever the crawl ran, whatever it found; non-zero (message on stderr) otherwise.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { pathToFileURL, fileURLToPath } = require('url');
const puppeteer = require('puppeteer-core');
const axeSource = require('axe-core').source;

const PHONE = { width: 390, height: 844, deviceScaleFactor: 1, isMobile: true, hasTouch: true };
const DESKTOP = { width: 1280, height: 900, deviceScaleFactor: 1, isMobile: false };
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

const toPath = url => { try { return fileURLToPath(url.split('#')[0].split('?')[0]); } catch { return null; } };
const listHtml = (dir, rel = '') => fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
  .flatMap(e => e.isDirectory() ? listHtml(dir, path.posix.join(rel, e.name))
    : e.name.endsWith('.html') ? [path.posix.join(rel, e.name)] : []);

// One tab per viewport. isMobile cannot change without a reload, so a single tab would load
// every page twice anyway; two tabs at least let the two loads run side by side.
async function openTab(browser, viewport, out) {
  const page = await browser.newPage();
  const tab = { page, mobile: viewport.isMobile, current: null };
  await page.setViewport(viewport);
  // axe goes into every document before the page's own script runs. It is not a request. This
  // is 3 times as fast as page.addScriptTag({content}) after each load (~250 ms a page): the
  // source crosses the DevTools pipe once, and V8 reuses its compiled code.
  await page.evaluateOnNewDocument(axeSource);
  // Without this a Content-Security-Policy in the page would stop requests before the
  // interception below could see them; they are reported all the same.
  await page.setBypassCSP(true);
  await page.setRequestInterception(true);
  page.on('request', req => {
    const url = req.url();
    const own = req.isNavigationRequest() && req.frame() === page.mainFrame()
      && toPath(url) === tab.current?.abs;
    if (own || url.startsWith('data:')) return req.continue();
    const at = tab.current?.rel ?? null;
    const seen = out.outside_requests.some(r => r.page === at && r.url === url);
    if (!seen) out.outside_requests.push({ page: at, url });
    req.abort('blockedbyclient');
  });
  page.setDefaultTimeout(20000);
  return tab;
}

// Runs in the page: elements sticking out of the viewport, except those inside a box that
// scrolls sideways on its own (html and body do not count as such a box: `overflow-x: auto`
// on them would only hide the problem).
function measureWidth(viewportWidth) {
  const scrolls = el => {
    for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return true;
    }
    return false;
  };
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue; // not rendered
    if ((r.right > viewportWidth + 1 || r.left < -1) && !scrolls(el)) {
      const id = el.id ? `#${el.id}` : '';
      const cls = [...el.classList].map(c => `.${c}`).join('');
      found.push(`${el.tagName.toUpperCase()}${id}${cls} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  const sw = document.documentElement.scrollWidth;
  if (sw > viewportWidth) found.push(`document scrollWidth ${sw}`);
  return found;
}

// Jumps finite CSS transitions/animations to their end, e.g. a colour fading after the switch
// to dark, which axe would otherwise read half way. Waiting would not do: animations do not
// advance in a tab that is not in front, and one of the two never is.
// Each filter box the page's script made: typing text no row holds hides every row, typing
// the first row's first cell keeps that row, clearing the box shows every row again.
function checkFilters() {
  const visible = table => [...table.tBodies[0].rows].filter(r => !r.hidden).length;
  const type = (box, text) => { box.value = text; box.dispatchEvent(new Event('input')); };
  return [...document.querySelectorAll('input.filter')].map(box => {
    const table = box.nextElementSibling.querySelector('table');
    const rows = table.tBodies[0].rows.length;
    type(box, 'no row holds this \u2603');
    const none = visible(table);
    const first = table.tBodies[0].rows[0].cells[0].textContent.trim();
    type(box, first);
    const kept = !table.tBodies[0].rows[0].hidden;
    type(box, '');
    return { table: table.dataset.table, rows, hidden_all: none === 0, kept_first: kept,
      restored: visible(table) === rows };
  });
}

const settle = page => page.evaluate(() => document.getAnimations()
  .filter(a => Number.isFinite(a.effect?.getComputedTiming().endTime))
  .forEach(a => a.finish()));

// The dark pass runs only the rules that read colours (they are also in AXE_TAGS): the scheme
// changes nothing else in practice, and axe is most of this script's time.
const COLOUR_RULES = ['color-contrast', 'link-in-text-block'];

async function runAxe(page, mode, runOnly) {
  const results = await page.evaluate(runOnly => window.axe.run(document,
    { runOnly, resultTypes: ['violations'] }), runOnly);
  return results.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({ id: v.id, impact: v.impact, help: v.help, mode,
      nodes: v.nodes.slice(0, 3).map(n => n.target.flat().join(' ')) }));
}

// Loads one page in one tab and checks it there. The desktop tab also reads links, ids, title.
async function visit(tab, rel, abs, out) {
  const { page } = tab;
  tab.current = { rel, abs };
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
  await page.goto(pathToFileURL(abs).href, { waitUntil: 'load' });
  // Collapsed <details> hide their content from both checks: open them all first.
  await page.evaluate(() => document.querySelectorAll('details').forEach(d => { d.open = true; }));
  await settle(page);
  const size = tab.mobile ? '390px' : '1280px';
  if (tab.mobile) out.too_wide[rel] = await page.evaluate(measureWidth, PHONE.width);
  const violations = await runAxe(page, `${size} light`, { type: 'tag', values: AXE_TAGS });
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  await settle(page);
  violations.push(...await runAxe(page, `${size} dark`, { type: 'rule', values: COLOUR_RULES }));
  (out.violations[rel] ||= []).push(...violations);
  if (tab.mobile) return null;
  out.titles[rel] = await page.title();
  out.filters[rel] = await page.evaluate(checkFilters);
  return page.evaluate(() => ({
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    links: [...document.querySelectorAll('a')].map(a => ({
      raw: a.getAttribute('href') ?? a.getAttribute('xlink:href'),
      resolved: a.href?.baseVal ?? a.href, // SVG <a> has an animated href
    })).filter(l => l.raw !== null),
  }));
}

// Checks one href of page `rel`; returns the site-relative target to crawl, if any.
function checkLink(root, rel, link, out, fragments) {
  const href = link.raw.trim();
  const broken = why => { out.broken_links.push({ page: rel, href: link.raw, why }); return null; };
  if (href.startsWith('#') || href === '') {
    fragments.push({ page: rel, href: link.raw, target: rel, frag: href.slice(1) });
    return null;
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('/') || href.startsWith('\\')) {
    return broken('not a relative link');
  }
  const abs = toPath(new URL(link.resolved, pathToFileURL(path.join(root, rel))).href);
  const target = abs && path.relative(root, abs).split(path.sep).join('/');
  if (!abs || target === '..' || target.startsWith('../') || path.isAbsolute(target)) return broken('leaves the site');
  if (!fs.existsSync(abs)) return broken('no such file');
  if (fs.statSync(abs).isDirectory()) return broken('is a directory, not a file');
  const hash = new URL(link.resolved).hash;
  if (hash.length > 1) fragments.push({ page: rel, href: link.raw, target, frag: hash.slice(1) });
  return /\.html?$/.test(target) ? target : null;
}

async function crawl(root, browser) {
  const out = { pages: [], files: listHtml(root).sort(), broken_links: [], outside_requests: [],
    too_wide: {}, violations: {}, titles: {}, filters: {}, errors: [] };
  const desktop = await openTab(browser, DESKTOP, out);
  const phone = await openTab(browser, PHONE, out);
  const ids = new Map(); // page -> Set of element ids, for the fragment check at the end
  const fragments = [];
  const queue = ['index.html'];
  const queued = new Set(queue);
  while (queue.length) {
    const rel = queue.shift();
    out.pages.push(rel);
    const abs = path.join(root, rel);
    const [desk, mob] = await Promise.allSettled([visit(desktop, rel, abs, out), visit(phone, rel, abs, out)]);
    for (const r of [desk, mob]) if (r.status === 'rejected') out.errors.push({ page: rel, error: String(r.reason.message || r.reason) });
    if (desk.status !== 'fulfilled') continue;
    ids.set(rel, new Set(desk.value.ids));
    for (const link of desk.value.links) {
      const target = checkLink(root, rel, link, out, fragments);
      if (target && !queued.has(target)) { queued.add(target); queue.push(target); }
    }
  }
  for (const f of fragments) {
    // The HTML spec scrolls to the top for "#" and for "#top" when no element has that id.
    let name = f.frag;
    try { name = decodeURIComponent(name); } catch { /* a stray % : compare as written */ }
    if (name === '' || (name.toLowerCase() === 'top' && !ids.get(f.target)?.has(name))) continue;
    if (!ids.has(f.target)) out.broken_links.push({ page: f.page, href: f.href, why: 'fragment on a page that did not load' });
    else if (!ids.get(f.target).has(name)) out.broken_links.push({ page: f.page, href: f.href, why: `no element with id "${name}"` });
  }
  return out;
}

async function main() {
  const [siteDir, chromium] = process.argv.slice(2);
  if (!siteDir || !chromium) throw new Error('usage: node crawl.js SITE_DIR CHROMIUM_PATH');
  const root = fs.realpathSync(siteDir);
  if (!fs.existsSync(path.join(root, 'index.html'))) throw new Error(`${root}/index.html does not exist`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'duckmarc-crawl-'));
  let browser;
  try {
    browser = await puppeteer.launch({
      executablePath: chromium, headless: true, userDataDir, timeout: 30000, protocolTimeout: 60000,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    const out = await crawl(root, browser);
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } finally {
    if (browser) await browser.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch(err => { console.error(`crawl.js: ${err.message || err}`); process.exit(1); });
