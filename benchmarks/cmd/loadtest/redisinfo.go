package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisSnapshot is what the runner reads from INFO around a measurement.
type redisSnapshot struct {
	// Calls is INFO commandstats: calls per command (lower case, "|" for
	// subcommands as Redis 7 names them), commands run inside scripts
	// included.
	Calls map[string]int64
	// CPU is used_cpu_user + used_cpu_sys in seconds.
	CPU float64
}

func readRedis(ctx context.Context, rdb *redis.Client) (redisSnapshot, error) {
	cs, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return redisSnapshot{}, fmt.Errorf("INFO commandstats: %w", err)
	}
	cpu, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return redisSnapshot{}, fmt.Errorf("INFO cpu: %w", err)
	}
	calls, err := parseCommandStats(cs)
	if err != nil {
		return redisSnapshot{}, err
	}
	return redisSnapshot{Calls: calls, CPU: parseCPU(cpu)}, nil
}

// parseCommandStats reads lines like
//
//	cmdstat_get:calls=12,usec=34,usec_per_call=2.83,rejected_calls=0,failed_calls=0
func parseCommandStats(info string) (map[string]int64, error) {
	calls := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, "cmdstat_")
		if !ok {
			continue
		}
		name, fields, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, fmt.Errorf("commandstats: bad line %q", line)
		}
		for f := range strings.SplitSeq(fields, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("commandstats: bad line %q: %w", line, err)
				}
				calls[name] = n
			}
		}
	}
	return calls, nil
}

// parseCPU returns used_cpu_user + used_cpu_sys of INFO cpu.
func parseCPU(info string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				sum += f
			}
		}
	}
	return sum
}

// callsDelta returns after − before per command, leaving out the INFO
// calls the runner itself makes and commands whose count did not move.
func callsDelta(before, after map[string]int64) map[string]int64 {
	d := map[string]int64{}
	for k, a := range after {
		if k == "info" {
			continue
		}
		if n := a - before[k]; n > 0 {
			d[k] = n
		}
	}
	return d
}

// redisVersion returns redis_version of INFO server.
func redisVersion(ctx context.Context, rdb *redis.Client) (string, error) {
	s, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("INFO server has no redis_version")
}
