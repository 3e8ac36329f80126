//go:build pprof

package main

// Built only with -tags pprof (CANARY_BUILD_TAGS=pprof for tests/bench):
// CANARY_CPUPROFILE names a file that `canary run` writes a CPU profile
// to, from start to exit; CANARY_MEMPROFILE one it writes the heap
// profile (and FILE.memstats.json, runtime.MemStats) to every 5 s while
// it runs. CANARY_MEMPROFILERATE sets runtime.MemProfileRate (1 records
// every allocation, for an inventory).

import (
	"encoding/json"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

func init() {
	if p := os.Getenv("CANARY_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			atExit = append(atExit, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if r, err := strconv.Atoi(os.Getenv("CANARY_MEMPROFILERATE")); err == nil && r > 0 {
		runtime.MemProfileRate = r
	}
	if p := os.Getenv("CANARY_MEMPROFILE"); p != "" {
		go func() {
			for range time.Tick(5 * time.Second) {
				if f, err := os.Create(p + ".tmp"); err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
					os.Rename(p+".tmp", p)
				}
				var ms runtime.MemStats // where the rest of RssAnon goes
				runtime.ReadMemStats(&ms)
				if b, err := json.MarshalIndent(ms, "", " "); err == nil {
					os.WriteFile(p+".memstats.json", b, 0o644)
				}
			}
		}()
	}
}
