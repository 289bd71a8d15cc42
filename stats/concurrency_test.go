package stats_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/querylens/querylens/stats"
)

// TestConcurrentObserveAndRead has many goroutines Observe while others
// read the JSON API, scrape the collector, take snapshots, and reset; run it
// with -race. Every event is either applied or counted as dropped.
func TestConcurrentObserveAndRead(t *testing.T) {
	e := startEngine(t, stats.Config{QueueSize: 1024, PublishInterval: time.Millisecond, MaxDigests: 50})
	srv := httptest.NewServer(stats.NewHandler(e, nil))
	defer srv.Close()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(stats.NewCollector(e, 10)))

	const writers, perWriter = 8, 2000
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				sql := "SELECT c" + strconv.Itoa((w*perWriter+i)%80) + " FROM t WHERE id = " + strconv.Itoa(i)
				e.Observe(query(sql, "s"+strconv.Itoa(w%3), time.Duration(i), time.Duration(1+i%997)*time.Microsecond))
			}
		})
	}
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for n := 0; !stop.Load(); n++ {
				switch (r + n) % 4 {
				case 0:
					resp, err := srv.Client().Get(srv.URL + "/api/v1/digests?sort=p99&limit=5")
					if !assert.NoError(t, err) {
						return
					}
					var l stats.DigestList
					assert.NoError(t, json.NewDecoder(resp.Body).Decode(&l))
					resp.Body.Close()
					assert.Equal(t, http.StatusOK, resp.StatusCode)
				case 1:
					_, err := reg.Gather()
					assert.NoError(t, err)
				case 2:
					s := e.Snapshot()
					var sum uint64
					for _, d := range s.Digests {
						sum += d.Count
					}
					_, err := json.Marshal(s)
					assert.NoError(t, err)
				case 3:
					if n%50 == 3 {
						e.Reset()
					}
				}
			}
		})
	}
	wg.Wait()
	s := flush(t, e)
	stop.Store(true)
	readers.Wait()
	s = flush(t, e)
	assert.Equal(t, uint64(writers*perWriter), s.Events+e.Dropped(), "every event applied or counted as dropped")
}
