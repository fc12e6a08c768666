package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// Input pictures: 640×360 I420, one distinct tint per input, a smooth panning texture with fresh
// grain (±3) in every frame, as camera pictures have (enough detail that a CBR encoder spends its
// budget, far from the pure noise that would make encoding, and hence the ratio, worst-case), and a stamp: a row of stampCells black or white blocks that carries the input's index
// and the frame's number, followed by the complement of those bits (a read is valid only when both
// halves agree, so a block the encoder has not finished updating is detected, not misread).
const (
	inW = 640
	inH = 360

	stampBits  = 12 // 2 bits of input index, 10 bits of frame number
	stampCells = 2 * stampBits
	stampCell  = 24 // block size, px: VP8 keeps a flat 24×24 block at ~1 Mb/s
	stampX     = 32 // first block's left edge
	stampY     = 24 // blocks' top edge

	maxClipFrames = 1 << (stampBits - 2) // frame numbers are 10 bits

	lumaBlack = 16
	lumaWhite = 235
)

// stampValue packs an input index (0–3) and a frame number (< maxClipFrames).
func stampValue(input, frame int) int { return input<<(stampBits-2) | frame }

// stampBlocks is the colour of each block: true = white.
func stampBlocks(value int) [stampCells]bool {
	var b [stampCells]bool
	for i := 0; i < stampBits; i++ {
		bit := value>>(stampBits-1-i)&1 == 1
		b[i] = bit
		b[stampBits+i] = !bit
	}
	return b
}

// tints: (U, V) of each input's background, far apart so a viewer can tell them at a glance.
var tints = [4][2]byte{{90, 200}, {200, 90}, {80, 80}, {190, 190}}

// picture generates the input pictures of one input.
type picture struct {
	input   int
	texture []byte
	seed    uint32
}

func newPicture(input int) *picture {
	p := &picture{input: input, texture: make([]byte, inW*inH), seed: 2463534242 + uint32(input)*7919}
	// A smooth texture (random values on a coarse grid, interpolated bilinearly) with the light
	// per-frame grain added in frame: camera-like content, neither flat nor pure noise.
	const step = 16
	gw, gh := inW/step+1, inH/step+1
	grid := make([]int, gw*gh)
	for i := range grid {
		grid[i] = 40 + int(p.rnd()%176)
	}
	for row := 0; row < inH; row++ {
		gy, fy := row/step, row%step
		for col := 0; col < inW; col++ {
			gx, fx := col/step, col%step
			a := grid[gy*gw+gx]*(step-fx) + grid[gy*gw+min(gx+1, gw-1)]*fx
			b := grid[min(gy+1, gh-1)*gw+gx]*(step-fx) + grid[min(gy+1, gh-1)*gw+min(gx+1, gw-1)]*fx
			p.texture[row*inW+col] = byte((a*(step-fy) + b*fy) / (step * step))
		}
	}
	return p
}

func (p *picture) rnd() uint32 { // xorshift32: deterministic, so the cached clips are reproducible
	p.seed ^= p.seed << 13
	p.seed ^= p.seed >> 17
	p.seed ^= p.seed << 5
	return p.seed
}

// frame writes frame number f as I420 into buf (len inW*inH*3/2).
func (p *picture) frame(f int, buf []byte) {
	y := buf[:inW*inH]
	u := buf[inW*inH : inW*inH*5/4]
	v := buf[inW*inH*5/4:]
	ox, oy := (f*2+p.input*97)%inW, (f+p.input*53)%inH
	for row := 0; row < inH; row++ {
		src := p.texture[((row+oy)%inH)*inW:]
		dst := y[row*inW : (row+1)*inW]
		for col := range dst {
			n := int(p.rnd()%7) - 3
			dst[col] = byte(min(max(int(src[(col+ox)%inW])+n, 16), 235))
		}
	}
	for i := range u {
		u[i], v[i] = tints[p.input][0], tints[p.input][1]
	}
	drawStamp(y, inW, stampValue(p.input, f))
}

// drawStamp draws the blocks of value into the luma plane y of width w, with a black margin of
// half a block around the row so the texture does not bleed into the outer blocks.
func drawStamp(y []byte, w, value int) {
	blocks := stampBlocks(value)
	m := stampCell / 2
	for row := stampY - m; row < stampY+stampCell+m; row++ {
		line := y[row*w:]
		for col := stampX - m; col < stampX+stampCells*stampCell+m; col++ {
			c := byte(lumaBlack)
			if i := (col - stampX) / stampCell; col >= stampX && i < stampCells && row >= stampY && row < stampY+stampCell && blocks[i] {
				c = lumaWhite
			}
			line[col] = c
		}
	}
}

// region is where one input's picture lies in a decoded output frame, in output pixels.
type region struct{ x, y, w, h float64 }

// gridRegions is the placement of inputs on a cols×rows grid of an outW×outH canvas, each picture
// scaled to fit its cell with its aspect ratio kept and centred (letterbox), as the Composite's
// automatic layout and the baseline place them.
func gridRegions(outW, outH, cols, rows int) []region {
	cw, ch := float64(outW)/float64(cols), float64(outH)/float64(rows)
	s := min(cw/inW, ch/inH)
	w, h := inW*s, inH*s
	var out []region
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out = append(out, region{x: float64(c)*cw + (cw-w)/2, y: float64(r)*ch + (ch-h)/2, w: w, h: h})
		}
	}
	return out
}

// readStamp reads the stamp of the picture placed at reg in the luma plane y (width w, stride
// stride, height h). ok is false when the blocks do not form a valid stamp.
func readStamp(y []byte, w, h, stride int, reg region) (input, frame int, ok bool) {
	s := reg.w / inW
	half := max(int(stampCell*s/4), 1) // sample the middle half of each block
	var bits [stampCells]bool
	for i := range bits {
		cx := int(reg.x + (stampX+float64(i)*stampCell+stampCell/2)*s)
		cy := int(reg.y + (stampY+stampCell/2)*s)
		if cx-half < 0 || cy-half < 0 || cx+half > w || cy+half > h {
			return 0, 0, false
		}
		sum, n := 0, 0
		for yy := cy - half; yy < cy+half; yy++ {
			for xx := cx - half; xx < cx+half; xx++ {
				sum += int(y[yy*stride+xx])
				n++
			}
		}
		mean := sum / n
		// A block far from both black and white is mid-update or smeared: not a valid read.
		if mean > 80 && mean < 170 {
			return 0, 0, false
		}
		bits[i] = mean >= 128
	}
	value := 0
	for i := 0; i < stampBits; i++ {
		if bits[i] == bits[stampBits+i] {
			return 0, 0, false
		}
		value <<= 1
		if bits[i] {
			value |= 1
		}
	}
	return value >> (stampBits - 2), value & (maxClipFrames - 1), true
}

// ---------------------------------------------------------------------------------------------
// IVF files (the container vpxenc and ivfparse use): a 32-byte header, then per frame a 12-byte
// header (size, 64-bit timestamp in time-base units) and the frame.

type ivfWriter struct {
	w      *bufio.Writer
	f      *os.File
	frames uint32
}

func createIVF(path string, width, height, fps int) (*ivfWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := &ivfWriter{w: bufio.NewWriterSize(f, 1<<20), f: f}
	hdr := make([]byte, 32)
	copy(hdr, "DKIF")
	le16(hdr[4:], 0)
	le16(hdr[6:], 32)
	copy(hdr[8:], "VP80")
	le16(hdr[12:], uint16(width))
	le16(hdr[14:], uint16(height))
	le32(hdr[16:], uint32(fps)) // time base: 1/fps, so timestamps count frames
	le32(hdr[20:], 1)
	le32(hdr[24:], 0) // frame count, patched in close
	if _, err := w.w.Write(hdr); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func (w *ivfWriter) write(frame []byte) error {
	hdr := make([]byte, 12)
	le32(hdr, uint32(len(frame)))
	le32(hdr[4:], w.frames)
	w.frames++
	if _, err := w.w.Write(hdr); err != nil {
		return err
	}
	_, err := w.w.Write(frame)
	return err
}

func (w *ivfWriter) close() error {
	err := w.w.Flush()
	if err == nil {
		n := make([]byte, 4)
		le32(n, w.frames)
		_, err = w.f.WriteAt(n, 24)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readIVF returns the frames of a VP8 IVF file.
func readIVF(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	hdr := make([]byte, 32)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if string(hdr[:4]) != "DKIF" || string(hdr[8:12]) != "VP80" {
		return nil, fmt.Errorf("%s: not a VP8 IVF file", path)
	}
	var frames [][]byte
	fh := make([]byte, 12)
	for {
		if _, err := io.ReadFull(r, fh); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		n := uint32(fh[0]) | uint32(fh[1])<<8 | uint32(fh[2])<<16 | uint32(fh[3])<<24
		if n > 16<<20 {
			return nil, fmt.Errorf("%s: frame of %d bytes", path, n)
		}
		fr := make([]byte, n)
		if _, err := io.ReadFull(r, fr); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		frames = append(frames, fr)
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("%s: no frames", path)
	}
	if !isKeyframe(frames[0]) {
		return nil, fmt.Errorf("%s: first frame is not a key frame", path)
	}
	return frames, nil
}

func le16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }
func le32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// isKeyframe: bit 0 of a VP8 frame's first byte is 0 on key frames.
func isKeyframe(frame []byte) bool { return len(frame) > 0 && frame[0]&1 == 0 }

// keyframeSize is the picture size in a VP8 key frame's header (RFC 6386 §9.1).
func keyframeSize(frame []byte) (w, h int, ok bool) {
	if !isKeyframe(frame) || len(frame) < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return 0, 0, false
	}
	return int(frame[6]) | int(frame[7]&0x3f)<<8, int(frame[8]) | int(frame[9]&0x3f)<<8, true
}
