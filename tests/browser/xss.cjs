// Drives the web map of a project whose names, titles, units and categories hold HTML and
// script payloads (tests/xss.rs writes it) in headless Chromium (Debian's, via
// playwright-core from web/node_modules): the indicator list, legend, search, table,
// details, popup, hover, comparison, series, cluster mode and a deep link; then the area
// profile and the OGC API pages. Prints one JSON line: what each page shows as text, and
// per page whether anything from the data ran (`window.__xss`), became an element with an
// event handler or a javascript: link, or tripped the Content-Security-Policy.
// Usage: node tests/browser/xss.cjs BASE_URL EXPECTED_JSON
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'web', 'node_modules', 'playwright-core'));

(async () => {
  const [base, expectedJson] = process.argv.slice(2);
  const want = JSON.parse(expectedJson);
  const result = { errors: [], ogcItemsErrors: [], dialogs: [], payloadRequests: [], audit: {}, map: {} };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'nl-NL' });
  // Before any script of the page: note every CSP violation (the page cannot undo this).
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));
  });
  // The background map of the project is unreachable on purpose (tiles.invalid).
  const basemapHosts = (process.env.BASEMAP_HOST || '').split(',').filter(Boolean);
  const external = (u) => !!u && basemapHosts.some((h) => u.includes(h));
  const watch = (page, label) => {
    const err = (text) => (label === 'ogcItems' ? result.ogcItemsErrors : result.errors).push(label + ': ' + text);
    // The profile and OGC pages name no icon: Chromium's own request for /favicon.ico is no error.
    const ignored = (u) => external(u) || /\/favicon\.ico$/.test(u || '');
    page.on('console', (m) => { if (m.type() === 'error' && !ignored(m.location().url)) { err('console: ' + m.text() + ' (' + m.location().url + ')'); } });
    page.on('pageerror', (e) => err('page: ' + e.message));
    page.on('requestfailed', (r) => { if (!ignored(r.url())) { err('request failed: ' + r.url()); } });
    page.on('response', (r) => { if (r.status() >= 400 && !ignored(r.url())) { err('HTTP ' + r.status() + ': ' + r.url()); } });
    page.on('dialog', (d) => { result.dialogs.push(label + ': ' + d.message()); d.dismiss().catch(() => {}); });
    // `<img src=x>` from the data, parsed as markup, asks the server for …/x.
    page.on('request', (r) => { if (/\/x(\?|$)/.test(new URL(r.url()).pathname)) { result.payloadRequests.push(label + ': ' + r.url()); } });
  };
  const audit = async (page, label) => {
    result.audit[label] = await page.evaluate(() => ({
      xss: window.__xss === undefined ? null : String(window.__xss),
      csp: window.__csp || [],
      handlers: Array.from(document.querySelectorAll('*')).flatMap((el) => Array.from(el.attributes)
        .filter((a) => /^on/i.test(a.name)).map((a) => el.tagName + ' ' + a.name + '=' + a.value)),
      jsLinks: Array.from(document.querySelectorAll('[href], [src], [action]'))
        .map((el) => el.getAttribute('href') || el.getAttribute('src') || el.getAttribute('action'))
        .filter((u) => /^\s*javascript:/i.test(u)),
      payloadImages: Array.from(document.images).filter((i) => /\/x$/.test(i.src)).length,
      inlineScripts: Array.from(document.scripts).filter((s) => !s.src).map((s) => s.textContent.slice(0, 60)),
    }));
  };
  const idle = (page) => page.waitForFunction(() => window.map.loaded() && window.map.areTilesLoaded(), null, { timeout: 30000 });
  const mapCentre = async (page) => {
    const box = await page.locator('#map').boundingBox();
    return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  };
  const text = (page, sel) => page.evaluate((s) => { const el = document.querySelector(s); return el ? el.textContent : null; }, sel);
  const rowOf = (page, name) => page.evaluate((n) => {
    const tr = Array.from(document.querySelectorAll('#table tbody tr')).find((r) => r.cells[0].textContent === n);
    return tr ? tr.dataset.i : null;
  }, name);

  const m = result.map;
  try {
    const page = await context.newPage();
    watch(page, 'map');
    await page.goto(base + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => window.buurtmeterReady === true, null, { timeout: 60000 });
    m.project = await text(page, '#project');
    m.documentTitle = await page.title();
    m.indicatorOption = await text(page, '#indicator option');
    m.description = await text(page, '#description');
    m.definition = await text(page, '#definition');
    m.legend = await text(page, '#legend');
    m.links = await page.evaluate(() => Array.from(document.querySelectorAll('#links a')).map((a) => a.getAttribute('href')));
    m.datalist = await page.evaluate((n) => Array.from(document.querySelectorAll('#area-names option')).some((o) => o.value === n), want.name);

    // Search the poisoned name: the map zooms to it, at the buurten level.
    await page.fill('#search-input', want.name);
    await page.press('#search-input', 'Enter');
    await page.waitForTimeout(500);
    await idle(page);
    await page.waitForTimeout(300);
    // Hover the centre (the area searched for): the details describe it.
    const c = await mapCentre(page);
    await page.mouse.move(c.x - 2, c.y - 2);
    await page.mouse.move(c.x, c.y);
    await page.waitForTimeout(300);
    m.hoverTitle = await text(page, '#info h3');
    // Click it: a popup with the same details.
    await page.mouse.click(c.x, c.y);
    await page.waitForSelector('.maplibregl-popup-content h3', { timeout: 10000 });
    m.popupTitle = await text(page, '.maplibregl-popup-content h3');
    await page.evaluate(() => document.querySelectorAll('.maplibregl-popup').forEach((p) => p.remove()));

    // The table: the poisoned area's row; a click selects it (details, series).
    const i = await rowOf(page, want.name);
    m.tableRow = i === null ? null : want.name;
    await page.click('#table tbody tr[data-i="' + i + '"]');
    await page.waitForFunction(() => { const h = document.querySelector('#series h4'); return h && h.textContent.endsWith('door de tijd'); }, null, { timeout: 30000 });
    m.infoTitle = await text(page, '#info h3');
    m.info = await text(page, '#info');
    m.profileHref = await page.evaluate(() => document.querySelector('#info a[target=_blank]').getAttribute('href'));
    m.seriesTitle = await text(page, '#series h4');

    // Compare with the area whose code is poisoned (its name is Esdoornlaan).
    await page.click('#info a.compare-start');
    const j = await rowOf(page, 'Esdoornlaan');
    await page.click('#table tbody tr[data-i="' + j + '"]');
    await page.waitForFunction(() => !document.getElementById('compare').hidden && document.querySelectorAll('#compare tbody tr').length > 0, null, { timeout: 30000 });
    m.compareHead = await page.evaluate(() => Array.from(document.querySelectorAll('#compare thead th')).slice(1).map((th) => th.textContent));
    m.compareFirstRow = await text(page, '#compare tbody tr');
    m.codeInfo = await page.evaluate(() => document.querySelector('#info .muted').textContent.split(' · ')[0]);
    m.codeProfileHref = await page.evaluate(() => document.querySelector('#info a[target=_blank]').getAttribute('href'));

    // Cluster mode: the legend and the details of the area.
    if (await page.evaluate(() => !document.getElementById('mode-hotspots').disabled)) {
      await page.check('#mode-hotspots');
      await page.waitForFunction(() => document.querySelector('#legend').textContent.includes('permutaties'), null, { timeout: 30000 });
      m.hotspotLegend = await text(page, '#legend');
      await page.mouse.move(c.x, c.y);
      await page.waitForTimeout(300);
      await page.check('input[name=mode][value=value]');
      await page.waitForTimeout(300);
    }
    await audit(page, 'map');

    // A deep link to the area, compared with the area with the poisoned code.
    const page2 = await context.newPage();
    watch(page2, 'deepLink');
    await page2.goto(base + '/#indicator=leegstand_woningen_pct&level=buurten&area=' + encodeURIComponent(want.area)
      + '&compare=buurten:' + encodeURIComponent(want.code), { waitUntil: 'load' });
    await page2.waitForFunction(() => window.buurtmeterReady === true, null, { timeout: 60000 });
    await page2.waitForFunction(() => !document.getElementById('compare').hidden && document.querySelectorAll('#compare tbody tr').length > 0, null, { timeout: 30000 });
    result.deepLink = {
      info: await text(page2, '#info h3'),
      compareHead: await page2.evaluate(() => Array.from(document.querySelectorAll('#compare thead th')).slice(1).map((th) => th.textContent)),
    };
    await audit(page2, 'deepLink');
    await page2.close();

    // The area profile: its chart script is inline, allowed by its hash in the CSP.
    for (const [label, url] of [['profile', '/areas/buurten/' + encodeURIComponent(want.area) + '?f=html'],
      ['profileCode', '/areas/buurten/' + encodeURIComponent(want.code) + '?f=html'],
      ['profileWijk', '/areas/wijken/WK999907?f=html']]) {
      const p = await context.newPage();
      watch(p, label);
      await p.goto(base + url, { waitUntil: 'load' });
      const ready = await p.waitForFunction(() => window.buurtmeterProfileReady === true, null, { timeout: 15000 }).then(() => true, () => false);
      result[label] = {
        ready,
        charts: await p.evaluate(() => document.querySelectorAll('.chart canvas').length),
        title: await text(p, 'h1'),
        text: await p.evaluate(() => document.body.innerText),
      };
      await audit(p, label);
      await p.close();
    }

    // The OGC API pages as HTML.
    for (const [label, url] of [['ogcLanding', '/ogc?f=html'], ['ogcCollection', '/ogc/collections/buurten?f=html'],
      ['ogcItems', '/ogc/collections/buurten/items?f=html&limit=1000'],
      ['ogcItem', '/ogc/collections/buurten/items/' + encodeURIComponent(want.area) + '?f=html'],
      ['ogcItemCode', '/ogc/collections/buurten/items/' + encodeURIComponent(want.code) + '?f=html']]) {
      const p = await context.newPage();
      watch(p, label);
      await p.goto(base + url, { waitUntil: 'load' });
      await p.waitForTimeout(200);
      if (label === 'ogcItem') { result.ogcItem = { text: await p.evaluate(() => document.body.innerText) }; }
      await audit(p, label);
      await p.close();
    }
  } catch (e) {
    result.errors.push('test: ' + e.message);
  }
  await browser.close();
  console.log(JSON.stringify(result));
})();
