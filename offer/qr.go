package offer

import (
	"fmt"
	"strings"

	"rsc.io/qr"
)

// QR rendering. Offer URIs are encoded at error correction level M; every
// rendering has a quiet zone of quietZone modules (ISO/IEC 18004 §6.3.8 asks
// for 4).
const (
	qrLevel     = qr.M
	quietZone   = 4
	pngModulePx = 8
)

// Bitmap is a QR symbol: Size x Size modules, Dark[y][x] true for dark.
type Bitmap struct {
	Size int
	Dark [][]bool
}

// Encode returns the QR symbol of text.
func Encode(text string) (*Bitmap, error) {
	c, err := qr.Encode(text, qrLevel)
	if err != nil {
		return nil, fmt.Errorf("offer: qr: %w", err)
	}
	b := &Bitmap{Size: c.Size, Dark: make([][]bool, c.Size)}
	for y := 0; y < c.Size; y++ {
		b.Dark[y] = make([]bool, c.Size)
		for x := 0; x < c.Size; x++ {
			b.Dark[y][x] = c.Black(x, y)
		}
	}
	return b, nil
}

// QRPNG renders text as a grey-scale PNG, pngModulePx pixels per module,
// with a 4-module quiet zone.
func QRPNG(text string) ([]byte, error) {
	c, err := qr.Encode(text, qrLevel)
	if err != nil {
		return nil, fmt.Errorf("offer: qr: %w", err)
	}
	c.Scale = pngModulePx
	return c.PNG(), nil
}

// QRSVG renders text as a standalone SVG document (no XML declaration, so it
// can be inlined in HTML): one path of unit squares, one per dark module,
// on a white background with a 4-module quiet zone.
func QRSVG(text string) ([]byte, error) {
	b, err := Encode(text)
	if err != nil {
		return nil, err
	}
	n := b.Size + 2*quietZone
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges" role="img" aria-label="QR code of the credential offer">`, n, n, n*pngModulePx, n*pngModulePx)
	fmt.Fprintf(&sb, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y := 0; y < b.Size; y++ {
		for x := 0; x < b.Size; x++ {
			if b.Dark[y][x] {
				fmt.Fprintf(&sb, "M%d %dh1v1h-1z", x+quietZone, y+quietZone)
			}
		}
	}
	sb.WriteString(`"/></svg>`)
	return []byte(sb.String()), nil
}

// Terminal renders text as a QR code with Unicode half blocks, two module
// rows per text line, for the CLI ("issuer offer") and the startup banner.
// Light modules (and the quiet zone) are printed as block glyphs and dark ones
// as spaces, so the code scans on the usual dark-background terminal; set
// darkOnLight for a terminal with a light background.
func Terminal(text string, darkOnLight bool) (string, error) {
	b, err := Encode(text)
	if err != nil {
		return "", err
	}
	const qz = 2 // terminals have margins of their own; 2 modules scan reliably
	n := b.Size + 2*qz
	ink := func(x, y int) bool { // true = draw a glyph for this module
		x, y = x-qz, y-qz
		dark := x >= 0 && y >= 0 && x < b.Size && y < b.Size && b.Dark[y][x]
		if darkOnLight {
			return dark
		}
		return !dark
	}
	var sb strings.Builder
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			top := ink(x, y)
			bottom := y+1 < n && ink(x, y+1)
			switch {
			case top && bottom:
				sb.WriteRune('█')
			case top:
				sb.WriteRune('▀')
			case bottom:
				sb.WriteRune('▄')
			default:
				sb.WriteByte(' ')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String(), nil
}
