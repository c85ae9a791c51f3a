// Loads a published site (`buurtmeter publish`, served by a plain static server with
// Range support) in headless Chromium: every level at its own zoom draws features from
// the PMTiles archives, read by Range requests (206); no console error; the trend and
// cluster modes and a clicked area's series where the indicator has them; a screenshot.
// Usage: node tests/browser/published.cjs BASE_URL SCREENSHOT.png
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '..', '..', 'web', 'node_modules', 'playwright-core'));

(async () => {
  const [base, shot] = process.argv.slice(2);
  const errors = [];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, locale: 'nl-NL' });
  const basemapHosts = (process.env.BASEMAP_HOST || '').split(',').filter(Boolean);
  const external = (url) => !!url && basemapHosts.some((h) => url.includes(h));
  const result = { errors, ranges: 0, archiveRequests: 0, fullArchiveReads: 0, otherHosts: [] };
  page.on('console', (m) => { if (m.type() === 'error' && !external(m.location().url)) { errors.push('console: ' + m.text() + ' ' + m.location().url); } });
  page.on('pageerror', (e) => errors.push('page: ' + e.message));
  page.on('requestfailed', (r) => { if (!external(r.url())) { errors.push('request failed: ' + r.url()); } });
  page.on('response', (r) => {
    const u = r.url();
    if (r.status() >= 400 && !external(u)) { errors.push('HTTP ' + r.status() + ': ' + u); }
    if (!u.startsWith(base) && !external(u) && !u.startsWith('data:') && !u.startsWith('blob:')) { result.otherHosts.push(u); }
    if (u.includes('.pmtiles')) {
      result.archiveRequests += 1;
      if (r.status() === 206) { result.ranges += 1; } else { result.fullArchiveReads += 1; }
    }
  });
  try {
    await page.goto(base + '/index.html', { waitUntil: 'load' });
    await page.waitForFunction(() => window.buurtmeterReady === true, null, { timeout: 60000 });
    result.csp = await page.evaluate(() => (document.querySelector('meta[http-equiv="Content-Security-Policy"]') || {}).content || '');
    result.features = await page.evaluate(() => window.map.queryRenderedFeatures().length);
    result.legend = await page.evaluate(() => document.querySelectorAll('#legend .item').length);
    result.links = await page.evaluate(() => Array.from(document.querySelectorAll('#links a')).map((a) => a.getAttribute('href')));
    result.note = await page.evaluate(() => (document.querySelector('#links .static-note') || {}).textContent || '');
    result.nav = await page.evaluate(() => document.querySelectorAll('header nav a').length);
    // Every level at its own zoom: the areas it draws.
    result.perLevel = {};
    const levels = await page.evaluate(() => window.map.getStyle().metadata['buurtmeter:legend'].map((l) => ({ level: l.level, minzoom: l.minzoom, maxzoom: l.maxzoom })));
    const bounds = await page.evaluate(() => window.map.getStyle().metadata['buurtmeter:bounds']);
    for (const l of levels) {
      const z = Math.min(l.minzoom + 0.5, (l.minzoom + Math.min(l.maxzoom, 18)) / 2);
      await page.evaluate(({ z, b }) => new Promise((resolve) => {
        window.map.once('idle', resolve);
        window.map.jumpTo({ center: [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], zoom: z });
      }), { z, b: bounds });
      await page.waitForTimeout(300);
      result.perLevel[l.level] = await page.evaluate((lv) => window.map.queryRenderedFeatures({ layers: [lv + '-fill'] }).length, l.level);
    }
    // Back to the first view, a level with labels.
    await page.evaluate((b) => new Promise((resolve) => { window.map.once('idle', resolve); window.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 30, duration: 0 }); }), bounds);
    await page.waitForTimeout(500);
    result.labels = await page.evaluate(() => document.querySelectorAll('.area-label').length);
    result.trendEnabled = await page.evaluate(() => !document.getElementById('mode-trend').disabled);
    if (result.trendEnabled) {
      await page.check('#mode-trend');
      await page.waitForFunction(() => document.querySelector('#legend').textContent.includes('stijgend'), null, { timeout: 30000 });
      await page.waitForTimeout(500);
      result.trendAreas = await page.evaluate(() => {
        const l = window.map.getStyle().metadata['buurtmeter:legend'].find((x) => window.map.getZoom() >= x.minzoom && window.map.getZoom() < x.maxzoom);
        return window.map.queryRenderedFeatures({ layers: [l.level + '-fill'] })
          .filter((f) => typeof window.map.getFeatureState({ source: f.source, sourceLayer: f.sourceLayer, id: f.id }).trend === 'number').length;
      });
      const box = await page.locator('#map').boundingBox();
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      await page.waitForFunction(() => !document.getElementById('series').hidden, null, { timeout: 30000 });
      await page.waitForTimeout(500);
      result.seriesChart = await page.evaluate(() => document.querySelectorAll('#series-chart canvas').length);
      result.seriesText = await page.evaluate(() => document.getElementById('series').textContent);
      result.profileLinks = await page.evaluate(() => document.querySelectorAll('#info a[href*="/areas/"]').length);
      await page.evaluate(() => document.querySelectorAll('.maplibregl-popup').forEach((p) => p.remove()));
      await page.check('input[name=mode][value=value]');
    }
    result.hotspotsEnabled = await page.evaluate(() => !document.getElementById('mode-hotspots').disabled);
    if (result.hotspotsEnabled) {
      await page.check('#mode-hotspots');
      await page.waitForFunction(() => document.querySelector('#legend').textContent.includes('permutaties'), null, { timeout: 30000 });
      await page.waitForTimeout(500);
      result.hotspotAreas = await page.evaluate(() => {
        const l = window.map.getStyle().metadata['buurtmeter:legend'].find((x) => window.map.getZoom() >= x.minzoom && window.map.getZoom() < x.maxzoom);
        return window.map.queryRenderedFeatures({ layers: [l.level + '-fill'] })
          .filter((f) => typeof window.map.getFeatureState({ source: f.source, sourceLayer: f.sourceLayer, id: f.id }).hot === 'string').length;
      });
      await page.check('input[name=mode][value=value]');
    }
    await page.waitForTimeout(300);
    await page.screenshot({ path: shot });
  } catch (e) {
    errors.push('test: ' + e.message);
  }
  await browser.close();
  console.log(JSON.stringify(result));
})();
