// Command logogen draws the PNG logos of the wasipy kernelspec.
//
// It is run by `go generate ./kernelspec/` from the kernelspec folder and
// writes logo-32x32.png and logo-64x64.png there. The drawing is the same
// one as the hand-written logo-svg.svg, on a 64×64 grid: a rounded square
// in WebAssembly purple with a round notch at the top (a nod to the
// WebAssembly logo) and the letters "py" in white. Shapes are described as
// inside/outside tests and rendered with supersampling, so the output
// depends only on this file and is reproducible byte for byte.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

// Geometry on the 64×64 design grid, kept in step with logo-svg.svg.
const (
	grid = 64.0

	bgMin, bgMax = 2.0, 62.0 // rounded square edges
	bgRadius     = 10.0      // corner radius

	notchX, notchY, notchR = 32.0, 2.0, 9.0 // cut-out at the top

	stroke = 6.0 // letter stroke width

	// "p": a stem and a ring (bowl).
	stemX0, stemX1 = 11.0, 17.0
	stemY0, stemY1 = 20.0, 53.0
	bowlX, bowlY   = 24.0, 31.0
	bowlR          = 8.0 // centre line of the ring; outer 11, inner 5

	// "y": two round-capped strokes.
	armRX0, armRY0, armRX1, armRY1 = 50.0, 23.0, 37.0, 51.0
	armLX0, armLY0, armLX1, armLY1 = 37.0, 23.0, 43.5, 38.0

	samples = 8 // per axis, per pixel
)

var (
	purple = color.NRGBA{R: 0x65, G: 0x4F, B: 0xF0, A: 0xFF}
	white  = color.NRGBA{R: 0xFF, G: 0xFF, B: 0xFF, A: 0xFF}
)

func main() {
	out := flag.String("out", ".", "directory to write the PNG files into")
	flag.Parse()
	for _, size := range []int{32, 64} {
		data, err := Render(size)
		if err != nil {
			fmt.Fprintln(os.Stderr, "logogen:", err)
			os.Exit(1)
		}
		name := filepath.Join(*out, fmt.Sprintf("logo-%dx%d.png", size, size))
		if err := os.WriteFile(name, data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "logogen:", err)
			os.Exit(1)
		}
	}
}

// Render returns the logo as PNG bytes at size×size pixels.
func Render(size int) ([]byte, error) {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	scale := grid / float64(size)
	const n = samples * samples
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var bg, fg int
			for sy := 0; sy < samples; sy++ {
				for sx := 0; sx < samples; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/samples) * scale
					y := (float64(py) + (float64(sy)+0.5)/samples) * scale
					if !inBackground(x, y) {
						continue
					}
					bg++
					if inLetters(x, y) {
						fg++
					}
				}
			}
			if bg == 0 {
				continue
			}
			img.SetNRGBA(px, py, mix(bg-fg, fg, n))
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mix returns the straight-alpha colour of a pixel whose samples are
// nBg purple, nFg white and the rest transparent, out of n.
func mix(nBg, nFg, n int) color.NRGBA {
	cov := nBg + nFg
	ch := func(b, f uint8) uint8 {
		return uint8((int(b)*nBg + int(f)*nFg + cov/2) / cov)
	}
	return color.NRGBA{
		R: ch(purple.R, white.R),
		G: ch(purple.G, white.G),
		B: ch(purple.B, white.B),
		A: uint8((255*cov + n/2) / n),
	}
}

func inBackground(x, y float64) bool {
	if math.Hypot(x-notchX, y-notchY) < notchR {
		return false
	}
	// Rounded square: distance to the inner rectangle shrunk by the radius.
	lo, hi := bgMin+bgRadius, bgMax-bgRadius
	dx := math.Max(math.Max(lo-x, x-hi), 0)
	dy := math.Max(math.Max(lo-y, y-hi), 0)
	if x < bgMin || x > bgMax || y < bgMin || y > bgMax {
		return false
	}
	return math.Hypot(dx, dy) <= bgRadius
}

func inLetters(x, y float64) bool {
	const half = stroke / 2
	// p: stem
	if x >= stemX0 && x <= stemX1 && y >= stemY0 && y <= stemY1 {
		return true
	}
	// p: bowl
	if math.Abs(math.Hypot(x-bowlX, y-bowlY)-bowlR) <= half {
		return true
	}
	// y: arms
	return segDist(x, y, armRX0, armRY0, armRX1, armRY1) <= half ||
		segDist(x, y, armLX0, armLY0, armLX1, armLY1) <= half
}

// segDist is the distance from (x, y) to the segment (x0, y0)–(x1, y1).
func segDist(x, y, x0, y0, x1, y1 float64) float64 {
	vx, vy := x1-x0, y1-y0
	t := ((x-x0)*vx + (y-y0)*vy) / (vx*vx + vy*vy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(x-(x0+t*vx), y-(y0+t*vy))
}
