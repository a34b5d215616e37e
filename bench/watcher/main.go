// Command watcher follows one job's live log from many websockets at once,
// for bench/api.py:
//
//	watcher URL COUNT < bearer
//
// The bearer comes on stdin, never in argv (which ps shows). For every
// "tick <unix time>" line written after its websocket opened, it records the
// seconds from the write to the frame's arrival, and prints them all as one
// JSON list when every websocket has closed. A Go client costs the shared
// machine a fraction of the CPU a Python or Node client would, so the delays
// measure the service rather than the watchers' own queues.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// frame is a websocket message of the log tail; "end" frames carry no lines.
type frame struct {
	Type  string   `json:"type"`
	Lines []string `json:"lines"`
}

func seconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

// follow reads one websocket until the service closes it, returning the
// delays of the tick lines written after it opened.
func follow(ctx context.Context, url, bearer string) ([]float64, error) {
	options := &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + bearer}},
		Subprotocols: []string{"crafting-table"},
	}
	conn, _, err := websocket.Dial(ctx, url, options)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(-1)
	joined := seconds(time.Now())

	var delays []float64
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return delays, nil
			}
			return delays, err
		}
		arrived := seconds(time.Now())

		var message frame
		if err := json.Unmarshal(data, &message); err != nil {
			return delays, fmt.Errorf("frame is not JSON: %w", err)
		}
		for _, line := range message.Lines {
			fields := strings.Fields(line)
			if len(fields) != 2 || fields[0] != "tick" {
				continue
			}
			written, err := strconv.ParseFloat(fields[1], 64)
			if err == nil && written >= joined {
				delays = append(delays, arrived-written)
			}
		}
	}
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: watcher URL COUNT < bearer")
		os.Exit(2)
	}
	url := os.Args[1]
	count, err := strconv.Atoi(os.Args[2])
	if err != nil || count < 1 {
		fmt.Fprintf(os.Stderr, "COUNT must be a positive number, not %q\n", os.Args[2])
		os.Exit(2)
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the bearer from stdin:", err)
		os.Exit(2)
	}
	bearer := strings.TrimSpace(string(raw))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		mu     sync.Mutex
		all    = []float64{}
		failed error
		wg     sync.WaitGroup
	)
	for range count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			delays, err := follow(ctx, url, bearer)
			mu.Lock()
			defer mu.Unlock()
			all = append(all, delays...)
			if err != nil && failed == nil {
				failed = err
			}
		}()
	}
	wg.Wait()

	if failed != nil {
		fmt.Fprintln(os.Stderr, "watcher:", failed)
		os.Exit(1)
	}
	out, _ := json.Marshal(all)
	os.Stdout.Write(out)
}
