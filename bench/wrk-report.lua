-- wrk-report.lua: prints one machine-readable line when wrk is done (latencies in
-- microseconds). It defines only done(), so wrk keeps its fast path for static requests.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d sock_errors=%d non2xx=%d p50_us=%d p99_us=%d max_us=%d bytes=%d\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max, summary.bytes))
end
