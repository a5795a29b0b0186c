package kernelcmd

import (
	"flag"

	"github.com/wasipy/wasipy/interp"
)

// limits are the sandbox's resource caps, from --memory-limit,
// --max-output and --disk-quota.
type limits struct {
	memory uint64    // bytes of guest linear memory
	output int64     // bytes of output per cell; 0: no cap
	disk   diskQuota // what a session may add beneath the notebook folder
}

// limitFlagSet holds the flags as parsed.
type limitFlagSet struct {
	memory, output *sizeFlag
	disk           *diskQuota
}

func (l limitFlagSet) values() limits {
	return limits{memory: l.memory.n, output: int64(l.output.n), disk: *l.disk}
}

// defaultMaxOutput is --max-output's default. nbclient and ipykernel cap
// nothing, but a cell's output is kept in the notebook file and in the
// browser: JupyterLab struggles with tens of MiB in one output area, and
// jupyter_server already throttles iopub above 1 MB/s. 100 MiB is far past
// what anyone reads, and bounds what one runaway cell can make the kernel
// and the frontend hold.
const defaultMaxOutput = 100 << 20

// limitFlags registers --memory-limit, --max-output and --disk-quota on fs
// (the kernel and `kernelspec` take the same flags, with the same checks).
func limitFlags(fs *flag.FlagSet) limitFlagSet {
	l := limitFlagSet{
		memory: &sizeFlag{n: interp.DefaultMemoryLimit, min: interp.MinMemoryLimit, max: interp.MaxMemoryLimit},
		output: &sizeFlag{n: defaultMaxOutput, max: 1 << 50},
		disk:   &diskQuota{bytes: defaultQuotaBytes, files: defaultQuotaFiles},
	}
	fs.Var(l.memory, "memory-limit", "cap on the sandbox's memory, like 512M or 2G (at least 64M, at most 4G, all wasm32 can address); past it a cell gets MemoryError")
	fs.Var(l.output, "max-output", "cap on one cell's output (stream text and display data), like 100M; past it output is dropped and the cell says how much; 0 means no cap")
	fs.Var(l.disk, "disk-quota", "what cell code may add beneath the notebook folder in one session: SIZE[,FILES] (e.g. 2G,20000), or off")
	return l
}
