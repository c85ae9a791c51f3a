// buurtmeter web map: a choropleth of the selected indicator over the tilesets,
// levels switching with the zoom (gemeente → wijk → buurt), a period slider driven by
// the indicator API (feature-state), a trend mode (Mann-Kendall per area, from
// /indicators/{id}/trends), hover and click details with the area's time series (uPlot),
// search by name; in Dutch, German or English (the words in i18n.js), with a chooser of
// the project's background maps.
// The same code runs a published site (`buurtmeter publish`: no server, plain files): the
// page names its manifest in <meta name="buurtmeter-static">; every API request then goes
// to the file the manifest gives for it, the tiles come from PMTiles archives by Range
// requests (the pmtiles protocol), and what only a server can do (hot spots on request,
// area profiles, the API's links) is left out with a note.
/* global maplibregl, uPlot, pmtiles */
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  // Every piece of the page that holds data is built here, as elements and text nodes:
  // names, codes, titles, units, period labels and categories come from input files, so
  // none of them is ever parsed as HTML: no innerHTML, insertAdjacentHTML or popup
  // setHTML in this file (attributions, the one HTML MapLibre takes, go through `esc`).
  // h('td', { class: 'v', style: { width: '3px' }, data: { i: 2 } }, 'text', child, [more])
  function append(el, ...children) {
    children.flat(Infinity).forEach((c) => {
      if (c === null || c === undefined || c === false || c === '') { return; }
      el.append(c instanceof Node ? c : String(c));
    });
    return el;
  }
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === null || v === undefined || v === false) { return; }
      if (k === 'class') { el.className = v; }
      else if (k === 'style') { Object.entries(v).forEach(([p, x]) => { el.style[p] = String(x); }); }
      else if (k === 'data') { Object.entries(v).forEach(([d, x]) => { el.dataset[d] = String(x); }); }
      else { el.setAttribute(k, String(v)); }
    });
    return append(el, ...children);
  }
  // Replace an element's content with these children.
  const fill = (el, ...children) => { el.replaceChildren(); return append(el, ...children); };
  // A path with ids or codes in it: each part URL-encoded.
  const url = (...parts) => '/' + parts.map((x) => encodeURIComponent(String(x))).join('/');
  // For the one place MapLibre takes HTML (a source's attribution, which it sanitises):
  // our attributions are text, so they go in escaped and come out as the same text.
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const qs = (params) => Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => k + '=' + encodeURIComponent(String(v))).join('&');
  // The interface's language: the one the server wrote the page in (<html lang>, from
  // ?lang= or the browser's Accept-Language). `t('key', { name: … })` is its word for
  // `key` with {name} filled in (as text: the words end up in text nodes, like the data).
  const WORDS = window.buurtmeterI18n || {};
  const LANG = WORDS[document.documentElement.lang] ? document.documentElement.lang : 'nl';
  const LOCALE = { nl: 'nl-NL', de: 'de-DE', en: 'en-GB' }[LANG];
  function t(key, vars) {
    const w = (WORDS[LANG] && WORDS[LANG][key]) || (WORDS.nl && WORDS.nl[key]) || key;
    return w.replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] !== undefined ? String(vars[k]) : m));
  }
  window.buurtmeterLang = LANG;
  // A language chosen in the address (the switch, a link) goes on to the profile's link;
  // without one, the profile follows the browser's language, as this page did.
  const CHOSEN_LANG = new URLSearchParams(location.search).has('lang') ? LANG : null;
  const numberFormats = {};
  const fmt = (x, unit) => {
    if (x === null || x === undefined) { return '—'; }
    const digits = Math.abs(x) >= 100 ? 0 : 2;
    numberFormats[digits] = numberFormats[digits] || new Intl.NumberFormat(LOCALE, { maximumFractionDigits: digits });
    return numberFormats[digits].format(Number(x)) + (unit ? ' ' + unit : '');
  };
  const STATIC_META = document.querySelector('meta[name="buurtmeter-static"]');
  const STATIC = STATIC_META ? { index: STATIC_META.getAttribute('content'), manifest: null } : null;
  if (STATIC && typeof pmtiles !== 'undefined') { maplibregl.addProtocol('pmtiles', new pmtiles.Protocol().tile); }
  // The published site's current manifest: index.json (never from a cache, it changes with
  // every publication) names the versioned one.
  async function loadManifest() {
    const index = await (await fetch(STATIC.index, { cache: 'no-cache' })).json();
    STATIC.manifest = await (await fetch(index.manifest)).json();
  }
  // An API answer as JSON: from the server (`path`), or on a published site from the file
  // of `key` (null where the publication has none).
  async function apiJSON(path, key) {
    if (!STATIC) { return (await fetch(path)).json(); }
    const file = STATIC.manifest.files[key];
    if (!file) { return null; }
    return (await fetch(file)).json();
  }
  const state = { indicators: [], ind: null, style: null, period: null, values: {}, names: [], hovered: null, labels: {}, markers: [], basemapShown: null, probes: {}, reachable: {}, mode: 'value', trends: {}, chart: null };
  // Trend colours: neither is "good" for every indicator, so two distinct hues, not red/green.
  const TREND = { rising: '#d95f02', falling: '#7570b3', none: '#cfd6dd' };
  // The usual LISA / hot-spot colours.
  const HOT = { high_high: '#d7191c', hot_spot: '#d7191c', low_low: '#2c7bb6', cold_spot: '#2c7bb6', low_high: '#abd9e9', high_low: '#fdae61', not_significant: '#e4e7eb' };
  const per = (kind) => t({ year: 'per.year', quarter: 'per.quarter', month: 'per.month' }[kind] || 'per.period');
  const pval = (p) => (p < 0.001 ? '< ' + (0.001).toLocaleString(LOCALE) : '= ' + fmt(p));
  // A trend's direction (`rising`, `falling`, `no_trend`) and a profile's band in words.
  const direction = (d) => t('trend.' + (d || 'no_trend'));
  const band = (b) => (b ? t('band.' + b) : '');

  // Deep links: the hash holds the map view (`kaart=zoom/lat/lon`, MapLibre's) and the
  // indicator, period, level and selected area, so a link in a memo opens this very view.
  const hashParams = () => new URLSearchParams(location.hash.slice(1));
  function setHash(values) {
    const p = hashParams();
    Object.entries(values).forEach(([k, v]) => { if (v === null || v === undefined || v === '') { p.delete(k); } else { p.set(k, v); } });
    history.replaceState(null, '', '#' + p.toString().replace(/%2F/g, '/'));
  }
  const startedWithView = hashParams().has('kaart');
  const map = new maplibregl.Map({
    container: 'map',
    style: { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef1f4' } }] },
    center: [5.9, 50.9],
    zoom: 10,
    attributionControl: { compact: false },
    hash: 'kaart',
  });
  window.map = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-right');

  function levels() { return (state.style && state.style.metadata['buurtmeter:legend']) || []; }

  function currentLevel() {
    const z = map.getZoom();
    return levels().find((l) => z >= l.minzoom && z < l.maxzoom) || levels()[levels().length - 1];
  }

  // The fill of an area: a class colour for a value, the protected colour for a cell
  // withheld by disclosure control, the no-data colour otherwise. With no breaks (one
  // distinct value, or none) one colour: MapLibre rejects a `step` without stops.
  function colorExpr(breaks) {
    const md = state.style.metadata;
    const pal = md['buurtmeter:palette'];
    let classes = pal[Math.floor(pal.length / 2)];
    if (breaks.length) {
      classes = ['step', ['feature-state', 'v'], pal[0]];
      breaks.forEach((b, i) => { classes.push(b, pal[Math.min(i + 1, pal.length - 1)]); });
    }
    return ['case',
      ['==', ['typeof', ['feature-state', 'v']], 'number'], classes,
      ['boolean', ['feature-state', 'protected'], false], md['buurtmeter:protected'] || md['buurtmeter:no_data'],
      md['buurtmeter:no_data']];
  }

  async function loadIndicator(id, fit) {
    state.ind = state.indicators.find((i) => i.id === id);
    const style = await apiJSON('/styles/' + encodeURIComponent(id) + '.json', 'style/' + id);
    state.style = style;
    for (const l of levels()) {
      // The style's per-class layers (what QGIS reads) become one layer coloured from
      // feature-state, so the period slider can recolour without new tiles.
      const at = style.layers.findIndex((x) => x.id.startsWith(l.level + '-fill-'));
      const first = style.layers[at];
      style.layers = style.layers.filter((x) => !x.id.startsWith(l.level + '-fill-'));
      style.layers.splice(at, 0, {
        id: l.level + '-fill', type: 'fill', source: first.source, 'source-layer': first['source-layer'],
        minzoom: first.minzoom, maxzoom: first.maxzoom, paint: { 'fill-color': colorExpr(l.breaks), 'fill-opacity': 0.85 },
      });
      const line = style.layers.find((x) => x.id === l.level + '-line');
      line.paint['line-color'] = ['case', ['boolean', ['feature-state', 'hover'], false], '#123c69', '#ffffff'];
      const hover = ['boolean', ['feature-state', 'hover'], false];
      line.paint['line-width'] = ['interpolate', ['linear'], ['zoom'], 8, ['case', hover, 2.5, 0.4], 14, ['case', hover, 4, 1.5]];
    }
    // The tiles' attribution (from their TileJSON otherwise) as text: see `esc`.
    Object.values(style.sources).forEach((s) => { if (s.type === 'vector') { s.attribution = esc(state.attribution || ''); } });
    const view = fit ? null : { center: map.getCenter(), zoom: map.getZoom() };
    delete style.center;
    delete style.zoom;
    map.setStyle(style);
    if (fit && !startedWithView) {
      const b = style.metadata['buurtmeter:bounds'];
      map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 30, duration: 0 });
    }
    else if (view) { map.jumpTo(view); }
    $('description').textContent = state.ind.description || state.ind.title;
    $('definition').textContent = t('definition', { text: state.ind.definition.text + (state.ind.unit ? ' (' + state.ind.unit + ')' : '') });
    const periods = state.ind.periods;
    $('period').max = Math.max(periods.length - 1, 0);
    $('period').value = Math.max(periods.length - 1, 0);
    $('period').disabled = periods.length <= 1;
    $('mode-trend').disabled = periods.length < 4;
    // Published: the indicator's configured hot spots where they were computed.
    const hotspotsHere = state.ind.hotspots && (!STATIC || levels().some((l) => STATIC.manifest.files['hotspots/' + id + '/' + l.level]));
    $('mode-hotspots').disabled = !hotspotsHere;
    if ((periods.length < 4 && state.mode === 'trend') || (!hotspotsHere && state.mode === 'hotspots')) { document.querySelector('input[name=mode][value=value]').checked = true; state.mode = 'value'; }
    state.hot = {};
    state.trends = {};
    $('series').hidden = true;
    renderTicks(periods);
    const finest = levels()[levels().length - 1].level;
    if (STATIC) {
      const d = STATIC.manifest.downloads;
      fill($('links'),
        d.csv[finest] ? h('a', { href: d.csv[finest], download: '' }, t('link.csv')) : null,
        d.fgb && d.fgb[finest] ? h('a', { href: d.fgb[finest], download: '' }, t('link.fgb')) : null,
        d.qml[id] ? h('a', { href: d.qml[id], download: '' }, t('link.qgis')) : null,
        d.maplibre[id] ? h('a', { href: d.maplibre[id] }, t('link.maplibre')) : null,
        h('a', { href: STATIC.manifest.metadata }, t('link.metadata')),
        h('span', { class: 'muted small static-note' }, t('static.note')));
    } else fill($('links'),
      h('a', { href: url('indicators', id) + '?' + qs({ level: finest, format: 'csv' }) }, t('link.csv')),
      h('a', { href: url('indicators', id) + '?' + qs({ level: finest, format: 'csv-nl' }) }, t('link.csv_nl')),
      h('a', { href: url('styles', id + '.qml') }, t('link.qgis')),
      h('a', { href: url('styles', id + '.json') }, t('link.maplibre')));
    map.once('styledata', () => {
      setPeriod(periods[periods.length - 1] || null).then(() => { if (state.mode !== 'value') { setMode(state.mode); } });
      addContext();
      renderBasemapChooser();
      addBasemap();
      renderLabels();
    });
    renderLegend();
  }

  async function setPeriod(period) {
    state.period = period;
    setHash({ indicator: state.ind.id, period: period });
    $('period-label').textContent = periodLabel(period);
    const id = state.ind.id;
    const names = [];
    await Promise.all(levels().map(async (l) => {
      const q = url('indicators', id) + '?' + qs({ level: l.level, period: period });
      const data = (await apiJSON(q, 'values/' + id + '/' + l.level + '/' + (period || 'latest'))) || { values: [] };
      state.values[l.level] = data.values;
      data.values.forEach((row, i) => {
        map.setFeatureState({ source: l.level, sourceLayer: l.level, id: i }, { v: row.value, protected: !!row.suppressed && row.suppressed !== 'small_denominator' });
        if (row.name) names.push({ name: row.name, code: row.code, level: l.level });
      });
    }));
    state.names = names;
    fill($('area-names'), names.map((n) => h('option', { value: n.name }, n.code)));
    map.triggerRepaint();
    renderLegend();
    renderTable();
  }

  // `2023` → 2023, `2023-Q2` → 2e kwartaal 2023, `2023-03` → maart 2023 (März 2023,
  // March 2023), `all` → hele periode.
  const monthYear = new Intl.DateTimeFormat(LOCALE, { month: 'long', year: 'numeric', timeZone: 'UTC' });
  function periodLabel(p) {
    if (!p) { return '—'; }
    if (p === 'all') { return t('period.all'); }
    let m = /^(\d{4})-Q(\d)$/.exec(p);
    if (m) { return t('period.quarter', { q: m[2], y: m[1] }); }
    m = /^(\d{4})-(\d{2})$/.exec(p);
    if (m) { return monthYear.format(new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1))); }
    return p;
  }

  // Year ticks under the period slider: the first period of every year (at most ~8 shown).
  function renderTicks(periods) {
    const ticks = $('period-ticks');
    if (periods.length <= 1) { fill(ticks); return; }
    const years = [];
    periods.forEach((p, i) => { const y = String(p).slice(0, 4); if (!years.length || years[years.length - 1].y !== y) { years.push({ y, i }); } });
    const every = Math.ceil(years.length / 8);
    fill(ticks, years.filter((_, k) => k % every === 0)
      .map((k) => h('span', { style: { left: (100 * k.i / (periods.length - 1)) + '%' } }, k.y)));
  }

  // Area names on the map, offline: the largest areas of the shown level whose label
  // point is in view (at most 80), as HTML markers; positions from /labels/{level}.
  async function renderLabels() {
    const l = currentLevel();
    if (!l) { return; }
    if (!state.labels[l.level]) {
      state.labels[l.level] = ((await apiJSON(url('labels', l.level), 'labels/' + l.level)) || { labels: [] }).labels;
    }
    const b = map.getBounds();
    // Largest first; a label that would overlap one already placed is left out.
    const placed = [];
    const shown = state.labels[l.level].filter((x) => b.contains([x.lon, x.lat]))
      .sort((a, c) => c.km2 - a.km2)
      .filter((x) => {
        if (placed.length >= 80) { return false; }
        const p = map.project([x.lon, x.lat]);
        const w = 6.5 * x.name.length + 6;
        const box = [p.x - w / 2, p.y - 9, p.x + w / 2, p.y + 9];
        if (placed.some((q) => box[0] < q[2] && box[2] > q[0] && box[1] < q[3] && box[3] > q[1])) { return false; }
        placed.push(box);
        return true;
      });
    state.markers.forEach((m) => m.remove());
    state.markers = shown.map((x) => {
      const el = document.createElement('div');
      el.className = 'area-label';
      el.textContent = x.name;
      return new maplibregl.Marker({ element: el }).setLngLat([x.lon, x.lat]).addTo(map);
    });
  }

  // The areas around the region (neighbouring gemeenten, say), grey and unlabelled by
  // value: they are not part of the project, so they get no colour and no legend entry.
  async function addContext() {
    if (state.context === undefined) {
      state.context = (await apiJSON('/context.geojson', 'context')) || { type: 'FeatureCollection', features: [] };
    }
    if (!state.context.features.length || map.getSource('context')) { return; }
    map.addSource('context', { type: 'geojson', data: state.context });
    const firstData = map.getStyle().layers.find((x) => x.id !== 'background' && x.id !== 'basemap');
    map.addLayer({ id: 'context-fill', type: 'fill', source: 'context', paint: { 'fill-color': '#dfe3e8', 'fill-opacity': 0.8 } }, firstData && firstData.id);
    map.addLayer({ id: 'context-line', type: 'line', source: 'context', paint: { 'line-color': '#9aa5b1', 'line-width': 1 } }, firstData && firstData.id);
    if (state.contextMarkers) { return; }
    state.contextMarkers = state.context.features.filter((f) => f.properties.label).map((f) => {
      const el = document.createElement('div');
      el.className = 'area-label context-label';
      el.textContent = f.properties.name;
      return new maplibregl.Marker({ element: el }).setLngLat(f.properties.label).addTo(map);
    });
  }

  // The project's background maps (PDOK's BRT-Achtergrondkaart for the Dutch side,
  // basemap.de for the German side, say): a chooser where there are any; the one chosen
  // (`basemap=` in the link, else the first; `basemap=none`: none) is shown when the
  // browser can reach it: one tile is tried first, so an offline map stays clean.
  function basemaps() {
    const b = state.style && state.style.metadata['buurtmeter:basemap'];
    return !b ? [] : Array.isArray(b) ? b : [b];
  }
  function chosenBasemap() {
    const want = hashParams().get('basemap');
    if (want === 'none') { return null; }
    return basemaps().find((m) => m.id === want) || basemaps()[0] || null;
  }
  function renderBasemapChooser() {
    const list = basemaps();
    $('basemap-field').hidden = list.length === 0;
    if (!list.length) { return; }
    fill($('basemap'), h('option', { value: 'none' }, t('basemap.none')), list.map((m) => h('option', { value: m.id }, m.title || m.id)));
    const chosen = chosenBasemap();
    $('basemap').value = chosen ? chosen.id : 'none';
  }
  // The attribution under the panel, with a word on a background map that cannot be reached.
  function renderAttribution() {
    const bm = chosenBasemap();
    const off = bm && state.reachable[bm.id] === false ? ' (' + t('basemap.unreachable', { title: bm.title || bm.id }) + ')' : '';
    $('attribution').textContent = (state.attribution || '') + off;
  }
  function probeBasemap(bm) {
    if (state.probes[bm.id]) { return state.probes[bm.id]; }
    const c = map.getCenter();
    const z = Math.max(0, Math.min(16, Math.round(map.getZoom())));
    const n = 2 ** z;
    const x = Math.floor((c.lng + 180) / 360 * n);
    const y = Math.floor((1 - Math.log(Math.tan(c.lat * Math.PI / 180) + 1 / Math.cos(c.lat * Math.PI / 180)) / Math.PI) / 2 * n);
    const tile = bm.url.replace('{z}', z).replace('{x}', x).replace('{y}', y);
    state.probes[bm.id] = new Promise((resolve) => {
      const img = new Image();
      const timer = setTimeout(() => resolve(false), 4000);
      img.onload = () => { clearTimeout(timer); resolve(true); };
      img.onerror = () => { clearTimeout(timer); resolve(false); };
      img.src = tile;
    }).then((ok) => { state.reachable[bm.id] = ok; return ok; });
    return state.probes[bm.id];
  }
  async function addBasemap() {
    const bm = chosenBasemap();
    if (map.getSource('basemap') && bm && state.basemapShown === bm.id) { return; }
    if (map.getLayer('basemap')) { map.removeLayer('basemap'); }
    if (map.getSource('basemap')) { map.removeSource('basemap'); }
    state.basemapShown = null;
    levels().forEach((l) => { if (map.getLayer(l.level + '-fill')) { map.setPaintProperty(l.level + '-fill', 'fill-opacity', 0.85); } });
    renderAttribution();
    if (!bm) { return; }
    const ok = await probeBasemap(bm);
    renderAttribution();
    // Another map chosen meanwhile, or this one already added by a call that won the race.
    if (!ok || chosenBasemap() !== bm || map.getSource('basemap')) { return; }
    map.addSource('basemap', { type: 'raster', tiles: [bm.url], tileSize: 256, attribution: esc(bm.attribution || '') });
    const firstData = map.getStyle().layers.find((x) => x.id !== 'background');
    map.addLayer({ id: 'basemap', type: 'raster', source: 'basemap', paint: { 'raster-opacity': 0.9 } }, firstData && firstData.id);
    levels().forEach((l) => map.setPaintProperty(l.level + '-fill', 'fill-opacity', 0.7));
    state.basemapShown = bm.id;
  }

  // Colour by value (the classes of the style) or by trend (rising / falling / no trend
  // at p < 0.05, from published values only).
  async function setMode(mode) {
    state.mode = mode;
    if (mode === 'trend') {
      await Promise.all(levels().map(async (l) => {
        if (!state.trends[l.level]) {
          const data = await apiJSON(url('indicators', state.ind.id, 'trends') + '?' + qs({ level: l.level }), 'trends/' + state.ind.id + '/' + l.level);
          state.trends[l.level] = data || { trends: [] };
        }
        state.trends[l.level].trends.forEach((tn, i) => {
          const v = tn.status !== 'ok' ? null : tn.direction === 'rising' ? 1 : tn.direction === 'falling' ? -1 : 0;
          map.setFeatureState({ source: l.level, sourceLayer: l.level, id: i }, { trend: v });
        });
      }));
    }
    if (mode === 'hotspots') {
      const hs = state.ind.hotspots;
      await Promise.all(levels().map(async (l) => {
        // Spatial statistics need three areas with a value at least (one gemeente has none).
        const known = (state.values[l.level] || []).filter((r) => typeof r.value === 'number').length;
        if (!state.hot[l.level] && known < 3) { state.hot[l.level] = { areas: [] }; }
        if (!state.hot[l.level]) {
          const q = url('indicators', state.ind.id, 'hotspots') + '?' + qs({ level: l.level, method: hs.method, weights: hs.weights, k: hs.k || null, threshold: hs.threshold || null, permutations: hs.permutations, seed: hs.seed, alpha: hs.alpha, fdr: hs.fdr });
          if (STATIC) { state.hot[l.level] = (await apiJSON(q, 'hotspots/' + state.ind.id + '/' + l.level)) || { areas: [] }; }
          else {
            const res = await fetch(q);
            state.hot[l.level] = res.ok ? await res.json() : { areas: [] };
          }
        }
        (state.hot[l.level].areas || []).forEach((r, i) => map.setFeatureState({ source: l.level, sourceLayer: l.level, id: i }, { hot: r.cluster || null }));
      }));
    }
    const md = state.style.metadata;
    const hotMatch = ['match', ['coalesce', ['feature-state', 'hot'], 'none']];
    Object.entries(HOT).forEach(([k, c]) => hotMatch.push(k, c));
    hotMatch.push(md['buurtmeter:no_data']);
    levels().forEach((l) => {
      const color = mode === 'trend'
        ? ['match', ['coalesce', ['feature-state', 'trend'], 9], 1, TREND.rising, -1, TREND.falling, 0, TREND.none, md['buurtmeter:no_data']]
        : mode === 'hotspots' ? hotMatch : colorExpr(l.breaks);
      map.setPaintProperty(l.level + '-fill', 'fill-color', color);
    });
    renderLegend();
  }

  function trendOf(level, i) {
    const tn = state.trends[level] && state.trends[level].trends[i];
    if (!tn) { return ''; }
    if (tn.status !== 'ok') { return tn.status === 'protected' ? t('protected') : t('too_few'); }
    return direction(tn.direction) + ' (' + fmt(tn.slope, (state.ind.unit || '') + ' ' + per(state.ind.period)) + ', p ' + pval(tn.p) + ')';
  }

  // A legend entry: a colour swatch and its text.
  const swatch = (colour, ...text) => h('div', { class: 'item' }, h('span', { class: 'swatch', style: { background: colour } }), text);

  function renderLegend() {
    const l = currentLevel();
    if (!l) { return; }
    if (state.mode === 'hotspots') {
      const md = state.style.metadata;
      const hs = state.ind.hotspots;
      const keys = hs.method !== 'local_moran' ? ['hot_spot', 'cold_spot', 'not_significant'] : ['high_high', 'low_low', 'high_low', 'low_high', 'not_significant'];
      const hot = state.hot[l.level] && state.hot[l.level].method;
      fill($('legend'), keys.map((k) => swatch(HOT[k], t('cluster.' + k))), swatch(md['buurtmeter:no_data'], t('no_data')),
        h('p', { class: 'muted small' }, t('cluster.legend', {
          method: { gi_star: 'Getis-Ord Gi*', gi: 'Getis-Ord Gi' }[hs.method] || t('cluster.local_moran'),
          weights: hs.weights,
          permutations: fmt(hs.permutations),
          alpha: fmt(hot ? hot.cutoff : hs.alpha),
          fdr: hs.fdr ? ' (FDR)' : '',
        })));
      $('level-label').textContent = l.level;
      return;
    }
    if (state.mode === 'trend') {
      const md = state.style.metadata;
      fill($('legend'), swatch(TREND.rising, direction('rising')), swatch(TREND.falling, direction('falling')), swatch(TREND.none, direction('no_trend')),
        swatch(md['buurtmeter:no_data'], t('too_few')),
        h('p', { class: 'muted small' }, t('trend.legend', { p: fmt(0.05) })));
      $('level-label').textContent = l.level;
      return;
    }
    const pal = state.style.metadata['buurtmeter:palette'];
    const unit = state.ind.unit || '';
    const b = l.breaks;
    const items = [];
    if (!b.length) {
      const vals = (state.values[l.level] || []).map((r) => r.value).filter((x) => typeof x === 'number');
      if (vals.length) {
        items.push(swatch(pal[Math.floor(pal.length / 2)], fmt(vals[0]) + ' ' + unit + ' (' + t('same_value') + ')'));
      }
    }
    for (let i = 0; b.length && i <= b.length; i += 1) {
      const lo = i === 0 ? null : b[i - 1];
      const hi = i < b.length ? b[i] : null;
      const label = lo === null ? '< ' + fmt(hi) : hi === null ? '≥ ' + fmt(lo) : fmt(lo) + ' – ' + fmt(hi);
      items.push(swatch(pal[Math.min(i, pal.length - 1)], label + ' ' + unit));
    }
    const md = state.style.metadata;
    // Only where this level has withheld cells: a legend entry for nothing reads as a hint.
    if ((state.values[l.level] || []).some((r) => r.suppressed && r.suppressed !== 'small_denominator')) {
      items.push(swatch(md['buurtmeter:protected'] || md['buurtmeter:no_data'], t('protected')));
    }
    items.push(swatch(md['buurtmeter:no_data'], t('no_data')));
    fill($('legend'), items);
    $('level-label').textContent = l.level;
  }

  // The details of an area (the info panel, the popup): a list of nodes, new on every call.
  function describe(f) {
    const l = f.source;
    const row = (state.values[l] || [])[f.id];
    if (!row) { return []; }
    const unit = state.ind.unit || '';
    const den = state.ind.definition.denominator;
    const hot = state.mode === 'hotspots' && state.hot[l] && state.hot[l].areas[f.id];
    const tr = (label, value) => h('tr', null, h('td', null, label), h('td', { class: 'v' }, value));
    return [
      h('h3', null, row.name || row.code),
      h('div', { class: 'muted' }, row.code + ' · ' + l + ' · ' + $('period-label').textContent),
      row.converted ? h('div', { class: 'muted small' }, t('area.converted')) : null,
      h('table', null, h('tbody', null,
        tr(state.ind.title, h('strong', null, row.suppressed === 'small_denominator' ? t('area.small_denominator') : row.suppressed && row.value === null ? t('protected') : fmt(row.value, unit))),
        tr(t('area.numerator', { label: state.ind.definition.numerator_label }), row.numerator === null && row.suppressed ? t('protected') : fmt(row.numerator)),
        den ? tr(t('area.denominator', { label: state.ind.definition.denominator_label }), fmt(row.denominator)) : null,
        state.mode === 'trend' ? tr(t('area.trend'), trendOf(l, f.id)) : null,
        hot && hot.cluster ? tr(t('area.cluster'), t('cluster.' + hot.cluster) + ' (p ' + pval(hot.p_sim) + ')') : null)),
      // Profiles and the comparison are pages of the server: not on a published site.
      STATIC ? null : h('p', { class: 'small' },
        h('a', { href: url('areas', l, row.code) + (CHOSEN_LANG ? '?' + qs({ lang: CHOSEN_LANG }) : ''), target: '_blank' }, t('area.profile')),
        ' · ',
        h('a', { href: '#', class: 'compare-start', data: { level: l, code: row.code } }, t('area.compare'))),
    ];
  }

  function fillLayers() { return levels().map((l) => l.level + '-fill'); }

  map.on('mousemove', (e) => {
    if (!state.style) { return; }
    const f = map.queryRenderedFeatures(e.point, { layers: fillLayers() })[0];
    if (f) {
      hover({ source: f.source, sourceLayer: f.sourceLayer, id: f.id });
      $('info').classList.remove('muted');
      fill($('info'), describe(f));
      map.getCanvas().style.cursor = 'pointer';
    } else {
      hover(null);
      map.getCanvas().style.cursor = '';
    }
  });
  map.on('click', (e) => {
    const f = state.style && map.queryRenderedFeatures(e.point, { layers: fillLayers() })[0];
    if (f) {
      new maplibregl.Popup({ maxWidth: '320px' }).setLngLat(e.lngLat).setDOMContent(append(document.createDocumentFragment(), describe(f))).addTo(map);
      const row = (state.values[f.source] || [])[f.id];
      if (row) { selectArea(f.source, f.id); }
    }
  });

  // An area chosen (a click on the map or in the table, or a deep link): its details, its
  // series, its row in the table, and the link.
  function selectArea(level, i) {
    const row = (state.values[level] || [])[i];
    if (!row) { return; }
    // The second area after "Vergelijk": both side by side, every indicator.
    if (state.compareWith && !(state.compareWith.level === level && state.compareWith.code === row.code)) {
      const first = state.compareWith;
      state.compareWith = null;
      setHash({ compare: first.level + ':' + first.code });
      showComparison(first, { level, code: row.code });
    }
    state.selected = { level, id: i };
    setHash({ level: level, area: row.code });
    $('info').classList.remove('muted');
    fill($('info'), describe({ source: level, id: i }));
    showSeries(level, row.code, row.name || row.code);
    renderTable();
  }

  // Two areas (or an area and a group) side by side: every indicator of both profiles.
  async function showComparison(a, b) {
    const get = async (x) => (await fetch(url('areas', x.level, x.code) + '?f=json')).json();
    const [pa, pb] = await Promise.all([get(a), get(b)]);
    const cell = (e) => (e.value === null && e.suppressed && e.suppressed !== 'small_denominator' ? t('protected') : fmt(e.value));
    const small = (text) => h('div', { class: 'muted small' }, text);
    const rows = pa.indicators.map((e, k) => {
      const f = pb.indicators[k] || {};
      return h('tr', null,
        h('td', null, e.title, small((e.unit || '') + ' · ' + (e.period || ''))),
        h('td', { class: 'v' }, cell(e), small(band(e.band))),
        h('td', { class: 'v' }, cell(f), small(band(f.band))));
    });
    const name = (p) => p.area.name || p.area.code;
    const close = h('a', { href: '#', id: 'compare-close' }, t('compare.close'));
    close.addEventListener('click', (ev) => { ev.preventDefault(); $('compare').hidden = true; setHash({ compare: null }); });
    $('compare').hidden = false;
    fill($('compare'), h('h4', null, t('compare.title')),
      h('table', { class: 'areas compare' },
        h('colgroup', null, h('col', { style: { width: '46%' } }), h('col'), h('col')),
        h('thead', null, h('tr', null, h('th'), h('th', { class: 'v' }, name(pa)), h('th', { class: 'v' }, name(pb)))),
        h('tbody', null, rows)),
      h('p', { class: 'small' }, close));
  }

  // All areas of the shown level for the indicator: a table to sort, with a bar per value;
  // hovering a row lights the area on the map and the other way round.
  function renderTable() {
    const l = currentLevel();
    const box = $('table');
    if (!l || !state.values[l.level]) { fill(box); return; }
    const unit = state.ind.unit || '';
    const rows = state.values[l.level].map((r, i) => ({ r, i }));
    const by = state.sort || 'value';
    rows.sort((a, b) => (by === 'name' ? String(a.r.name || a.r.code).localeCompare(String(b.r.name || b.r.code), LANG)
      : (typeof b.r.value === 'number' ? b.r.value : -Infinity) - (typeof a.r.value === 'number' ? a.r.value : -Infinity)));
    const max = Math.max(...rows.map((x) => (typeof x.r.value === 'number' ? Math.abs(x.r.value) : 0)), 0) || 1;
    const selected = (x) => state.selected && state.selected.level === l.level && state.selected.id === x.i;
    fill(box,
      h('table', { class: 'areas' },
        h('thead', null, h('tr', null,
          h('th', { data: { sort: 'name' } }, l.level + (by === 'name' ? ' ▾' : '')),
          h('th', { data: { sort: 'value' }, class: 'v' }, t('table.value') + (by === 'value' ? ' ▾' : '')))),
        h('tbody', null, rows.map((x) => h('tr', { data: { i: x.i }, class: selected(x) ? 'sel' : null },
          h('td', null, x.r.name || x.r.code),
          h('td', { class: 'v' },
            h('span', { class: 'bar', style: { width: (typeof x.r.value === 'number' ? Math.round(60 * Math.abs(x.r.value) / max) : 0) + 'px' } }),
            x.r.value === null && x.r.suppressed && x.r.suppressed !== 'small_denominator' ? t('protected') : fmt(x.r.value)))))),
      h('p', { class: 'muted small' }, unit));
    box.querySelectorAll('th').forEach((th) => th.addEventListener('click', () => { state.sort = th.dataset.sort; renderTable(); }));
    box.querySelectorAll('tbody tr').forEach((tr) => {
      const i = Number(tr.dataset.i);
      tr.addEventListener('mouseenter', () => hover({ source: l.level, sourceLayer: l.level, id: i }));
      tr.addEventListener('click', () => selectArea(l.level, i));
    });
  }

  function hover(feature) {
    if (state.hovered) { map.setFeatureState(state.hovered, { hover: false }); }
    state.hovered = feature;
    if (feature) { map.setFeatureState(feature, { hover: true }); }
    document.querySelectorAll('#table tr.hov').forEach((tr) => tr.classList.remove('hov'));
    if (feature) {
      const tr = document.querySelector('#table tr[data-i="' + feature.id + '"]');
      if (tr) { tr.classList.add('hov'); }
    }
  }

  // A published site's series of one area: its row of the level's series file, and its
  // trend from the trends file (the same values and trend the server's series gives).
  async function staticSeries(level, code) {
    const id = state.ind.id;
    state.series = state.series || {};
    const k = id + '/' + level;
    if (!state.series[k]) { state.series[k] = await apiJSON(null, 'series/' + k); }
    if (!state.trends[level]) { state.trends[level] = (await apiJSON(null, 'trends/' + k)) || { trends: [] }; }
    const all = state.series[k];
    const i = (state.values[level] || []).findIndex((r) => r.code === code);
    if (!all || i < 0 || !all.values[i]) { return null; }
    return {
      series: all.periods.map((p, j) => ({ period: p, value: all.values[i][j] })),
      trend: state.trends[level].trends[i] || { status: 'too_few' },
    };
  }

  // The clicked area's values over all periods, with its trend: a small uPlot chart
  // (compiled into the binary like MapLibre), or a table where uPlot is missing.
  async function showSeries(level, code, name) {
    const box = $('series');
    if (state.ind.periods.length < 2) { box.hidden = true; return; }
    const data = STATIC ? await staticSeries(level, code) : await (await fetch(url('indicators', state.ind.id) + '?' + qs({ level: level, area: code }))).json();
    if (!data) { box.hidden = true; return; }
    const s = data.series;
    const tn = data.trend;
    const trend = tn.status === 'ok' ? direction(tn.direction) + ', ' + fmt(tn.slope) + ' ' + per(state.ind.period) + ' (p ' + pval(tn.p) + ')'
      : tn.status === 'protected' ? t('protected') : t('too_few_trend');
    box.hidden = false;
    if (state.chart) { state.chart.destroy(); state.chart = null; }
    fill(box, h('h4', null, t('series.title', { name: name })), h('div', { id: 'series-chart' }), h('p', { class: 'muted small' }, t('trend.label', { text: trend })));
    if (typeof uPlot === 'undefined') {
      append(box, h('table', null, h('tbody', null, s.map((c) => h('tr', null, h('td', null, periodLabel(c.period)), h('td', { class: 'v' }, fmt(c.value)))))));
      return;
    }
    const xs = s.map((_, i) => i);
    const ys = s.map((c) => (typeof c.value === 'number' ? c.value : null));
    const fit = tn.status === 'ok' ? xs.map((x) => tn.intercept + tn.slope * x) : xs.map(() => null);
    state.chart = new uPlot({
      width: box.clientWidth || 280,
      height: 150,
      legend: { show: false },
      scales: { x: { time: false } },
      axes: [
        { values: (u, ticks) => ticks.map((i) => (s[i] ? String(s[i].period).slice(0, 4) : '')), space: 40 },
        { size: 46, values: (u, ticks) => ticks.map((v) => fmt(v)) },
      ],
      series: [{}, { label: state.ind.title, stroke: '#123c69', width: 2, spanGaps: false, points: { size: 4 } },
        { label: t('trend.sen'), stroke: '#d95f02', dash: [4, 4], width: 1, points: { show: false } }],
    }, [xs, ys, fit], $('series-chart'));
  }
  map.on('zoomend', () => { renderLegend(); renderTable(); });
  map.on('moveend', () => { if (state.style) { renderLabels(); } });
  map.on('error', (e) => { console.error('map error', e && e.error ? e.error.message : e); });

  // The language switch: the same view (the hash) in another language, which the server
  // writes the page in; `?lang=` stays in the address, so a link keeps its language.
  $('lang').value = LANG;
  $('lang').addEventListener('change', (e) => {
    // A published site has a page per language (index.html is Dutch).
    if (STATIC) { location.assign((e.target.value === 'nl' ? 'index.html' : 'index.' + e.target.value + '.html') + location.hash); return; }
    const q = new URLSearchParams(location.search);
    q.set('lang', e.target.value);
    location.assign(location.pathname + '?' + q.toString() + location.hash);
  });
  $('basemap').addEventListener('change', (e) => { setHash({ basemap: e.target.value }); addBasemap(); });
  $('indicator').addEventListener('change', (e) => { setHash({ indicator: e.target.value, period: null }); loadIndicator(e.target.value, false); });
  $('period').addEventListener('input', (e) => setPeriod(state.ind.periods[Number(e.target.value)]));
  document.querySelectorAll('input[name=mode]').forEach((r) => r.addEventListener('change', (e) => setMode(e.target.value)));
  // "Vergelijk met…" in the details: the next area clicked (map or table) is compared.
  document.addEventListener('click', (e) => {
    const a = e.target.closest && e.target.closest('a.compare-start');
    if (!a) { return; }
    e.preventDefault();
    state.compareWith = { level: a.dataset.level, code: a.dataset.code };
    append($('info'), h('p', { class: 'small' }, h('strong', null, t('compare.next'))));
  });
  $('search').addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = $('search-input').value.trim().toLowerCase();
    const hit = state.names.find((n) => n.name.toLowerCase() === q || n.code.toLowerCase() === q)
      || state.names.find((n) => n.name.toLowerCase().includes(q));
    if (!hit) { $('info').textContent = t('search.none', { q: q }); return; }
    await zoomToArea(hit.level, hit.code);
  });

  // Fit the map to an area at a zoom where its level is shown.
  async function zoomToArea(level, code) {
    if (STATIC) { return zoomToLabel(level, code); }
    const feature = await (await fetch(url('ogc', 'collections', level, 'items', code) + '?f=json')).json();
    const b = [180, 90, -180, -90];
    feature.geometry.coordinates.flat(2).forEach(([x, y]) => { b[0] = Math.min(b[0], x); b[1] = Math.min(b[1], y); b[2] = Math.max(b[2], x); b[3] = Math.max(b[3], y); });
    const lvl = levels().find((l) => l.level === level);
    const z = lvl ? { minZoom: lvl.minzoom, maxZoom: Math.max(lvl.minzoom, Math.min(lvl.maxzoom - 0.01, 16)) } : {};
    const cam = map.cameraForBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60 });
    if (cam && lvl) { cam.zoom = Math.min(Math.max(cam.zoom, z.minZoom), z.maxZoom); }
    await new Promise((resolve) => { map.once('idle', resolve); map.jumpTo(cam || {}); });
  }

  // A published site has no geometry service: the area's label point and size instead.
  async function zoomToLabel(level, code) {
    const lvl = levels().find((l) => l.level === level);
    if (!state.labels[level]) { state.labels[level] = ((await apiJSON(null, 'labels/' + level)) || { labels: [] }).labels; }
    const x = state.labels[level].find((y) => y.code === code);
    if (!x || !lvl) { return; }
    // About 400 px across for the area's size, within the zooms of its level.
    const side = Math.sqrt(Math.max(x.km2, 0.0001));
    const zoom = Math.log2((400 / side) * 40075 * Math.cos(x.lat * Math.PI / 180) / 256);
    const z = Math.min(Math.max(zoom, lvl.minzoom), Math.max(lvl.minzoom, Math.min(lvl.maxzoom - 0.01, 16)));
    await new Promise((resolve) => { map.once('idle', resolve); map.jumpTo({ center: [x.lon, x.lat], zoom: z }); });
  }

  (async function init() {
    if (STATIC) { await loadManifest(); }
    const list = await apiJSON('/indicators', 'indicators');
    state.indicators = list.indicators;
    $('project').textContent = list.project;
    document.title = list.project + ' — buurtmeter';
    fill($('indicator'), state.indicators.map((i) => h('option', { value: i.id }, i.title)));
    state.attribution = (state.indicators[0] && state.indicators[0].source.attribution) || '';
    renderAttribution();
    const link = hashParams();
    const wanted = state.indicators.find((i) => i.id === link.get('indicator')) || state.indicators[0];
    if (wanted) {
      $('indicator').value = wanted.id;
      await loadIndicator(wanted.id, true);
    }
    map.once('idle', async () => {
      const period = link.get('period');
      if (wanted && period && wanted.periods.includes(period) && period !== state.period) {
        $('period').value = wanted.periods.indexOf(period);
        await setPeriod(period);
      }
      const level = link.get('level');
      const code = link.get('area');
      if (level && code && state.values[level]) {
        const i = state.values[level].findIndex((r) => r.code === code);
        if (i >= 0) {
          if (!startedWithView) { await zoomToArea(level, code); }
          selectArea(level, i);
          const cmp = link.get('compare');
          if (cmp && cmp.includes(':')) {
            const [cl, cc] = cmp.split(':');
            showComparison({ level: cl, code: cc }, { level, code });
          }
        }
      }
      window.buurtmeterReady = true;
    });
  })().catch((err) => { console.error(err); $('info').textContent = t('error.load', { error: err }); });
}());
