package main

import (
	"fmt"
	"math"
	"slices"
)

// latencySummary is in microseconds. Percentiles are exact (all samples are kept and sorted).
type latencySummary struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

func summarize(ns []int64) latencySummary {
	if len(ns) == 0 {
		return latencySummary{}
	}
	slices.Sort(ns)
	var sum float64
	for _, v := range ns {
		sum += float64(v)
	}
	us := func(v float64) float64 { return round1(v / 1e3) }
	return latencySummary{
		Count: len(ns),
		Mean:  us(sum / float64(len(ns))),
		P50:   us(float64(quantile(ns, 0.50))),
		P90:   us(float64(quantile(ns, 0.90))),
		P99:   us(float64(quantile(ns, 0.99))),
		P999:  us(float64(quantile(ns, 0.999))),
		Max:   us(float64(ns[len(ns)-1])),
	}
}

// quantile returns the nearest-rank q-quantile of sorted.
func quantile(sorted []int64, q float64) int64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// fmtMS formats microseconds as milliseconds.
func fmtMS(us float64) string {
	switch {
	case us < 10:
		return fmt.Sprintf("%.3fms", us/1e3)
	case us < 10e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	default:
		return fmt.Sprintf("%.0fms", us/1e3)
	}
}
