// Loads the buurtmeter web map in headless Chromium (Debian's, via playwright-core from
// web/node_modules), checks that it renders features without console errors, moves the
// period slider, switches the indicator, and saves a screenshot; where the first
// indicator has four periods or more, also the trend mode (legend, coloured areas) and
// the time-series chart of a clicked area (a second screenshot, NAME-trend.png).
// Usage: node tests/browser/webmap.cjs BASE_URL SCREENSHOT.png
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
  // A Dutch browser (the page's language follows Accept-Language; languages.cjs tries
  // the others), so the words checked below are the Dutch ones.
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, locale: 'nl-NL' });
  // The project's background map may be unreachable (no network in CI): the map must work
  // without it, so failures of that host alone are not errors; everything else is.
  const basemapHosts = (process.env.BASEMAP_HOST || '').split(',').filter(Boolean);
  const external = (url) => !!url && basemapHosts.some((h) => url.includes(h));
  page.on('console', (m) => { if (m.type() === 'error' && !external(m.location().url)) { errors.push('console: ' + m.text() + ' ' + m.location().url); } });
  page.on('pageerror', (e) => errors.push('page: ' + e.message));
  page.on('requestfailed', (r) => { if (!external(r.url())) { errors.push('request failed: ' + r.url()); } });
  page.on('response', (r) => { if (r.status() >= 400 && !external(r.url())) { errors.push('HTTP ' + r.status() + ': ' + r.url()); } });
  const result = { errors };
  try {
    await page.goto(base + '/', { waitUntil: 'load' });
    await page.waitForFunction(() => window.buurtmeterReady === true, null, { timeout: 60000 });
    result.zoom = await page.evaluate(() => window.map.getZoom());
    result.hasMap = await page.evaluate(() => typeof window.map === 'object' && typeof window.map.getZoom === 'function');
    result.features = await page.evaluate(() => window.map.queryRenderedFeatures().length);
    result.layers = await page.evaluate(() => window.map.getStyle().layers.map((l) => l.id));
    result.legend = await page.evaluate(() => document.querySelectorAll('#legend .item').length);
    await page.waitForTimeout(300);
    result.labels = await page.evaluate(() => document.querySelectorAll('.area-label').length);
    result.trendEnabled = await page.evaluate(() => !document.getElementById('mode-trend').disabled);
    if (result.trendEnabled) {
      await page.check('#mode-trend');
      await page.waitForFunction(() => document.querySelector('#legend').textContent.includes('stijgend'), null, { timeout: 30000 });
      await page.waitForTimeout(500);
      result.trendLegend = await page.evaluate(() => document.getElementById('legend').textContent);
      // Areas drawn with a trend colour (feature-state `trend` set from the API).
      result.trendAreas = await page.evaluate(() => {
        const l = window.map.getStyle().metadata['buurtmeter:legend'].find((x) => window.map.getZoom() >= x.minzoom && window.map.getZoom() < x.maxzoom);
        return window.map.queryRenderedFeatures({ layers: [l.level + '-fill'] })
          .filter((f) => typeof window.map.getFeatureState({ source: f.source, sourceLayer: f.sourceLayer, id: f.id }).trend === 'number').length;
      });
      const mapBox = await page.locator('#map').boundingBox();
      await page.mouse.click(mapBox.x + mapBox.width / 2, mapBox.y + mapBox.height / 2);
      await page.waitForFunction(() => !document.getElementById('series').hidden, null, { timeout: 30000 });
      await page.waitForTimeout(500);
      result.seriesChart = await page.evaluate(() => document.querySelectorAll('#series-chart canvas').length);
      result.seriesText = await page.evaluate(() => document.getElementById('series').textContent);
      await page.screenshot({ path: shot.replace(/\.png$/, '-trend.png') });
      await page.evaluate(() => document.querySelectorAll('.maplibregl-popup').forEach((p) => p.remove()));
      await page.check('input[name=mode][value=value]');
      await page.waitForTimeout(300);
    }
    result.hotspotsEnabled = await page.evaluate(() => !document.getElementById('mode-hotspots').disabled);
    if (result.hotspotsEnabled) {
      await page.check('#mode-hotspots');
      await page.waitForFunction(() => document.querySelector('#legend').textContent.includes('niet significant'), null, { timeout: 30000 });
      await page.waitForTimeout(500);
      result.hotspotLegend = await page.evaluate(() => document.getElementById('legend').textContent);
      result.hotspotAreas = await page.evaluate(() => {
        const l = window.map.getStyle().metadata['buurtmeter:legend'].find((x) => window.map.getZoom() >= x.minzoom && window.map.getZoom() < x.maxzoom);
        return window.map.queryRenderedFeatures({ layers: [l.level + '-fill'] })
          .filter((f) => typeof window.map.getFeatureState({ source: f.source, sourceLayer: f.sourceLayer, id: f.id }).hot === 'string').length;
      });
      await page.screenshot({ path: shot.replace(/\.png$/, '-clusters.png') });
      await page.check('input[name=mode][value=value]');
      await page.waitForTimeout(300);
    }
    // Period slider to the first period, then switch the indicator.
    await page.evaluate(() => { const s = document.getElementById('period'); s.value = 0; s.dispatchEvent(new Event('input')); });
    await page.waitForTimeout(500);
    result.periodLabel = await page.evaluate(() => document.getElementById('period-label').textContent);
    const options = await page.evaluate(() => Array.from(document.querySelectorAll('#indicator option')).map((o) => o.value));
    result.indicators = options.length;
    await page.selectOption('#indicator', options[options.length > 3 ? 3 : 0]);
    await page.waitForTimeout(500);
    await page.waitForFunction(() => window.map.loaded() && window.map.areTilesLoaded(), null, { timeout: 30000 });
    result.featuresAfterSwitch = await page.evaluate(() => window.map.queryRenderedFeatures().length);
    // Hover the centre of the map: the info panel describes an area.
    const box = await page.locator('#map').boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.waitForTimeout(300);
    result.info = await page.evaluate(() => document.getElementById('info').textContent);
    await page.screenshot({ path: shot });
    // Every level at a zoom inside its range: how many of its areas are drawn there.
    result.perLevel = await page.evaluate(async () => {
      const legend = window.map.getStyle().metadata['buurtmeter:legend'];
      const b = window.map.getStyle().metadata['buurtmeter:bounds'];
      const out = {};
      for (const l of legend) {
        const z = Math.min(Math.max(l.minzoom + 0.5, (l.minzoom + Math.min(l.maxzoom, 16)) / 2), 16);
        window.map.jumpTo({ center: [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], zoom: z });
        await new Promise((resolve) => { if (window.map.loaded() && window.map.areTilesLoaded()) { window.map.once('idle', resolve); window.map.triggerRepaint(); } else { window.map.once('idle', resolve); } });
        out[l.level] = window.map.queryRenderedFeatures({ layers: [l.level + '-fill'] }).length;
      }
      return out;
    });
    // A deep link opens exactly that view: indicator, period, level, area.
    const link = await page.evaluate(async () => {
      const list = (await (await fetch('/indicators')).json()).indicators;
      const ind = list[list.length - 1];
      const level = ind.levels[ind.levels.length - 1].level;
      const rows = (await (await fetch('/indicators/' + ind.id + '?level=' + level + '&period=' + ind.periods[0])).json()).values;
      return { indicator: ind.id, period: ind.periods[0], level, code: rows[rows.length - 1].code, other: rows[0].code, n: rows.length, indicators: list.length };
    });
    const page2 = await browser.newPage({ viewport: { width: 1400, height: 900 }, locale: 'nl-NL' });
    page2.on('pageerror', (e) => errors.push('page (deep link): ' + e.message));
    await page2.goto(base + '/#indicator=' + link.indicator + '&period=' + encodeURIComponent(link.period) + '&level=' + link.level + '&area=' + link.code + '&compare=' + link.level + ':' + link.other, { waitUntil: 'load' });
    await page2.waitForFunction(() => window.buurtmeterReady === true, null, { timeout: 60000 });
    await page2.waitForTimeout(500);
    result.deepLink = await page2.evaluate(() => ({
      indicator: document.getElementById('indicator').value,
      period: new URLSearchParams(location.hash.slice(1)).get('period'),
      info: document.getElementById('info').textContent,
      profileLink: !!document.querySelector('#info a[href^="/areas/"]'),
      tableRows: document.querySelectorAll('#table tbody tr').length,
      selectedRow: (document.querySelector('#table tr.sel') || { textContent: '' }).textContent,
    }));
    await page2.waitForFunction(() => !document.getElementById('compare').hidden, null, { timeout: 30000 });
    result.deepLink.compareRows = await page2.evaluate(() => document.querySelectorAll('#compare tbody tr').length);
    result.deepLinkExpected = link;
    await page2.close();
  } catch (e) {
    errors.push('test: ' + e.message);
  }
  await browser.close();
  console.log(JSON.stringify(result));
})();
