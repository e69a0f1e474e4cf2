/**
 * The request-latency histogram (musehub_http_request_duration_seconds), kept by hand:
 * prom-client's Histogram hashes the label object on every observation, even through a
 * labelled child, and on refs that was the costliest line of the request path after the
 * socket write. Here an observation is one map lookup and one bucket scan; the registry
 * reads the series through get(), in the shape prom-client's own metrics give it (so the
 * text format and the cluster aggregator treat it like any histogram).
 */
interface Series {
  labels: { method: string; route: string; status: string };
  /** Observations per bucket (not cumulative); the last is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export class RequestDurations {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let s = this.series.get(key);
    if (!s) {
      s = {
        labels: { method, route, status: String(status) },
        counts: new Array(this.buckets.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.buckets.length && seconds > this.buckets[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /** What prom-client's Registry renders: cumulative buckets, then _sum and _count, per series. */
  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      counts.forEach((n, i) => {
        cumulative += n;
        const le = i < this.buckets.length ? this.buckets[i]! : '+Inf';
        values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels, value: count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
