package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// machine describes where a run happened.
type machine struct {
	Date      string `json:"date"`
	Commit    string `json:"commit"`
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	Mem       string `json:"mem"`
	Redis     string `json:"redis"`
	RedisAddr string `json:"redis_addr"`
	Go        string `json:"go"`
	Wrk       string `json:"wrk"`
}

func describeMachine(ctx context.Context, rdb *redis.Client, c config) (machine, error) {
	m := machine{
		Date:      time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		NProc:     runtime.NumCPU(),
		CPU:       cpuModel(),
		Mem:       memTotal(),
		RedisAddr: rdb.Options().Addr,
		Go:        goVersion(ctx),
		Wrk:       wrkVersion(ctx),
		Commit:    commit(ctx),
	}
	v, err := redisVersion(ctx, rdb)
	if err != nil {
		return m, err
	}
	m.Redis = v
	return m, nil
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// memTotal returns MemTotal of /proc/meminfo in GiB.
func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return fmt.Sprintf("%.0f GiB", kb/(1<<20))
			}
		}
	}
	return "?"
}

// goVersion is the toolchain's version (the one that builds the server).
func goVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

func wrkVersion(ctx context.Context) string {
	out, _ := exec.CommandContext(ctx, "wrk", "--version").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(line); len(f) >= 2 {
		return "wrk " + f[1]
	}
	return "wrk"
}

// commit is the checked-out commit, with "+ uncommitted changes" when the
// work tree differs from it.
func commit(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += " + uncommitted changes"
	}
	return c
}
