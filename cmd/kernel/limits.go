package main

import (
	"flag"

	"github.com/wasipy/wasipy/interp"
)

// limits are the sandbox's resource caps, from --memory-limit and
// --max-output.
type limits struct {
	memory uint64 // bytes of guest linear memory
	output int64  // bytes of output per cell; 0: no cap
}

// defaultMaxOutput is --max-output's default. nbclient and ipykernel cap
// nothing, but a cell's output is kept in the notebook file and in the
// browser: JupyterLab struggles with tens of MiB in one output area, and
// jupyter_server already throttles iopub above 1 MB/s. 100 MiB is far past
// what anyone reads, and bounds what one runaway cell can make the kernel
// and the frontend hold.
const defaultMaxOutput = 100 << 20

// limitFlags registers --memory-limit and --max-output on fs (the kernel
// and `kernelspec` take the same flags, with the same checks).
func limitFlags(fs *flag.FlagSet) (memory, output *sizeFlag) {
	memory = &sizeFlag{n: interp.DefaultMemoryLimit, min: interp.MinMemoryLimit, max: interp.MaxMemoryLimit}
	fs.Var(memory, "memory-limit", "cap on the sandbox's memory, like 512M or 2G (at least 64M, at most 4G, all wasm32 can address); past it a cell gets MemoryError")
	output = &sizeFlag{n: defaultMaxOutput, max: 1 << 50}
	fs.Var(output, "max-output", "cap on one cell's output (stream text and display data), like 100M; past it output is dropped and the cell says how much; 0 means no cap")
	return memory, output
}
