// The web map and the area profile in Dutch, German and English, in headless Chromium
// (Debian's, via playwright-core from web/node_modules): the browser's language
// (Accept-Language, from the context's locale) picks the page's, `?lang=` overrides it,
// the language switch keeps the view, numbers are written the language's way. Saves a
// screenshot of the map in German (SHOT_DIR/webmap-de.png) and of the profile
// (SHOT_DIR/profile-de.png). Prints one JSON line: what each page showed, and errors.
// Usage: node tests/browser/languages.cjs BASE_URL SHOT_DIR PROFILE_PATH
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'web', 'node_modules', 'playwright-core'));

(async () => {
  const [base, shots, profilePath] = process.argv.slice(2);
  const errors = [];
  const basemapHosts = (process.env.BASEMAP_HOST || '').split(',').filter(Boolean);
  const external = (u) => !!u && basemapHosts.some((h) => u.includes(h));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // A page in a browser whose language is `locale`, watched for errors.
  async function open(locale, what) {
    const context = await browser.newContext({ locale, viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error' && !external(m.location().url)) { errors.push(what + ': console: ' + m.text() + ' ' + m.location().url); } });
    page.on('pageerror', (e) => errors.push(what + ': page: ' + e.message));
    page.on('requestfailed', (r) => { if (!external(r.url())) { errors.push(what + ': request failed: ' + r.url()); } });
    page.on('response', (r) => { if (r.status() >= 400 && !external(r.url())) { errors.push(what + ': HTTP ' + r.status() + ': ' + r.url()); } });
    return page;
  }
  // What the map shows of its interface, once it is ready.
  async function mapWords(page) {
    await page.waitForFunction(() => window.buurtmeterReady === true, null, { timeout: 60000 });
    await page.waitForTimeout(300);
    return page.evaluate(() => {
      const text = (sel) => (document.querySelector(sel) || { textContent: '' }).textContent.trim();
      return {
        lang: document.documentElement.lang,
        scriptLang: window.buurtmeterLang,
        langLabel: text('#lang-label'),
        langValue: document.getElementById('lang').value,
        legendTitle: text('#legend-title'),
        legend: text('#legend'),
        modes: Array.from(document.querySelectorAll('.mode label')).map((l) => l.textContent.trim()),
        tableSummary: text('details summary'),
        tableHead: Array.from(document.querySelectorAll('#table th')).map((th) => th.textContent.trim()),
        info: text('#info'),
        definition: text('#definition'),
        links: text('#links'),
        placeholder: document.getElementById('search-input').placeholder,
        basemapVisible: getComputedStyle(document.getElementById('basemap-field')).display !== 'none',
        basemapOptions: Array.from(document.querySelectorAll('#basemap option')).map((o) => o.value),
        search: location.search,
        hash: location.hash,
        features: window.map.queryRenderedFeatures().length,
      };
    });
  }
  const result = { errors };
  try {
    // German browser: German map.
    const de = await open('de-DE', 'de');
    await de.goto(base + '/', { waitUntil: 'load' });
    result.de = await mapWords(de);
    // Hover the centre: the details of an area, German words and numbers.
    const box = await de.locator('#map').boundingBox();
    await de.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await de.waitForTimeout(400);
    result.de.hoverInfo = await de.evaluate(() => document.getElementById('info').textContent);
    // ONLY_MAP: the German map only (a second project, its screenshot apart).
    const only = !!process.env.ONLY_MAP;
    await de.screenshot({ path: path.join(shots, only ? 'webmap-de-basemaps.png' : 'webmap-de.png') });
    if (only) { throw new Error('done'); }
    // The switch: English, the same view (hash), ?lang=en in the address.
    const hashBefore = await de.evaluate(() => location.hash);
    await Promise.all([de.waitForNavigation({ waitUntil: 'load' }), de.selectOption('#lang', 'en')]);
    result.switched = await mapWords(de);
    result.switched.hashBefore = hashBefore;
    // German browser, ?lang=en: English.
    const en = await open('de-DE', 'en');
    await en.goto(base + '/?lang=en', { waitUntil: 'load' });
    result.en = await mapWords(en);
    // A browser in a language we do not have: Dutch.
    const nl = await open('fr-FR', 'nl');
    await nl.goto(base + '/', { waitUntil: 'load' });
    result.nl = await mapWords(nl);
    // The profile: German for a German browser, English with ?lang=en.
    const profile = async (page, url) => {
      await page.goto(base + url, { waitUntil: 'load' });
      await page.waitForFunction(() => window.buurtmeterProfileReady === true, null, { timeout: 30000 });
      return page.evaluate(() => ({
        lang: document.documentElement.lang,
        title: document.title,
        heads: Array.from(document.querySelectorAll('thead th')).map((th) => th.textContent.trim()),
        mapLink: (document.querySelector('a[href^="/?lang="]') || { href: '' }).getAttribute('href'),
        text: document.body.innerText,
        charts: document.querySelectorAll('.chart canvas').length,
      }));
    };
    const pde = await open('de-DE', 'profile de');
    result.profileDe = await profile(pde, profilePath + (profilePath.includes('?') ? '&' : '?') + 'f=html');
    await pde.screenshot({ path: path.join(shots, 'profile-de.png'), fullPage: true });
    result.profileEn = await profile(pde, profilePath + (profilePath.includes('?') ? '&' : '?') + 'f=html&lang=en');
    const pnl = await open('fr-FR', 'profile nl');
    result.profileNl = await profile(pnl, profilePath + (profilePath.includes('?') ? '&' : '?') + 'f=html');
  } catch (e) {
    if (e.message !== 'done') { errors.push('test: ' + e.message); }
  }
  await browser.close();
  console.log(JSON.stringify(result));
})();
