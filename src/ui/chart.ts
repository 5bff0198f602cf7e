// The time-to-deprovision chart: per system, bars for p50, p95 and max of confirmed disables, and
// a dashed line at the SLA. Plain SVG rendered on the server (no script, so the page's CSP can
// forbid all scripts); colours come from ui.css through classes.
import type { SystemSummary } from '../audit/report.js';
import { formatDuration } from '../audit/report.js';
import { html, type SafeHtml } from './html.js';

const WIDTH = 640;
const HEIGHT = 260;
const MARGIN = { top: 20, right: 20, bottom: 40, left: 70 };
const SERIES = [
  { key: 'p50Ms', label: 'p50' },
  { key: 'p95Ms', label: 'p95' },
  { key: 'maxMs', label: 'max' },
] as const;

/** 1, 2 or 5 times a power of ten, at or above `value`: round numbers on the axis. */
function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((step) => step * power).find((candidate) => candidate >= value)!;
}

const round = (value: number) => Math.round(value * 10) / 10;

export function slaChart(systems: SystemSummary[], slaMs: number): SafeHtml {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const largest = Math.max(slaMs, ...systems.flatMap((system) => SERIES.map((series) => system[series.key] ?? 0)));
  // Headroom above the SLA line so it never sits on the frame.
  const top = niceCeiling(largest * 1.1);
  const y = (ms: number) => round(MARGIN.top + plotHeight - (ms / top) * plotHeight);
  const groupWidth = plotWidth / Math.max(systems.length, 1);
  const barWidth = round(Math.min(40, (groupWidth * 0.7) / SERIES.length));

  const ticks = [0, 0.25, 0.5, 0.75, 1].map((share) => {
    const ms = top * share;
    return html`<line class="grid" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(ms)}" y2="${y(ms)}"/><text class="axis" x="${MARGIN.left - 6}" y="${y(ms) + 4}" text-anchor="end">${formatDuration(ms)}</text>`;
  });

  const groups = systems.map((system, index) => {
    const groupStart = MARGIN.left + index * groupWidth + (groupWidth - barWidth * SERIES.length) / 2;
    const bars = SERIES.map((series, seriesIndex) => {
      const value = system[series.key];
      const x = round(groupStart + seriesIndex * barWidth);
      if (value === null) return html`<text class="axis" x="${x + barWidth / 2}" y="${y(0) - 4}" text-anchor="middle">–</text>`;
      const barTop = y(value);
      return html`<rect class="bar ${series.label}${value > slaMs ? ' over' : ''}" x="${x}" y="${barTop}" width="${barWidth - 2}" height="${Math.max(1, round(y(0) - barTop))}"><title>${system.system} ${series.label}: ${formatDuration(value)}</title></rect>`;
    });
    return html`<g class="system">${bars}<text class="axis" x="${round(MARGIN.left + (index + 0.5) * groupWidth)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${system.system}</text></g>`;
  });

  const legend = SERIES.map(
    (series, index) => html`<rect class="bar ${series.label}" x="${MARGIN.left + index * 70}" y="${HEIGHT - 14}" width="10" height="10"/><text class="axis" x="${MARGIN.left + index * 70 + 14}" y="${HEIGHT - 5}">${series.label}</text>`,
  );
  const label = `Time to deprovision per system (p50, p95, max of confirmed disables); SLA ${formatDuration(slaMs)}`;
  return html`<svg class="chart" role="img" aria-label="${label}" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>${label}</title>${ticks}${groups}<line class="sla" x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(slaMs)}" y2="${y(slaMs)}"/><text class="sla-label" x="${WIDTH - MARGIN.right}" y="${y(slaMs) - 4}" text-anchor="end">SLA ${formatDuration(slaMs)}</text>${legend}</svg>`;
}
