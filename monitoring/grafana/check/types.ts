// The shape the shipped dashboards are checked against: Grafana's own dashboard model
// (`Dashboard`, `Panel`, `RowPanel` from @grafana/schema), with each panel's `targets` narrowed
// from `Record<string, unknown>` to the Prometheus query fields the dashboards use, because
// @grafana/schema ships no Prometheus query type (that lives in the Prometheus plugin).
import type { Dashboard, DataSourceRef, Panel, RowPanel } from '@grafana/schema';

export interface PromTarget {
  refId: string;
  expr: string;
  datasource?: DataSourceRef;
  editorMode?: 'code' | 'builder';
  legendFormat?: string;
  instant?: boolean;
  range?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  interval?: string;
  hide?: boolean;
  exemplar?: boolean;
}

export type HvPanel = Omit<Panel, 'targets'> & { targets?: PromTarget[] };
export type HvRow = Omit<RowPanel, 'panels'> & { panels: HvPanel[] };
export type HvDashboard = Omit<Dashboard, 'panels'> & { panels?: Array<HvPanel | HvRow> };
