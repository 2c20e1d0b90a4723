package worker

import "github.com/ThreeDotsLabs/watermill/message"

// handlerStack is the free stack a message's handling is given at once, in bytes: the
// runtime doubles the stack until it holds that beside what is on it already, which
// makes 32 KiB from a small start (16 KiB was not enough: Decode still grew it).
const handlerStack = 16 << 10

// growStack gives the goroutine Watermill starts for each message a stack with
// handlerStack bytes free before it handles the message. A goroutine starts small and its
// stack doubles, each time copied whole with every frame on it adjusted, as the handling
// goes deeper (the router's middlewares, decoding, bbolt, JSON): a drain's profile had
// 10% of the worker's CPU in those copies (bench/NOTES.md, session 9). Grown here, two
// frames deep, the one copy costs next to nothing.
func growStack(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		touchStack()
		return h(msg)
	}
}

// touchStack needs a frame of almost handlerStack bytes, so that its call grows the
// stack to hold it in one go. The frame is handed to useFrame so that the compiler
// keeps it.
//
//go:noinline
func touchStack() {
	var frame [handlerStack - 1024]byte
	useFrame(frame[:])
}

//go:noinline
func useFrame(b []byte) { b[len(b)-1] = 1 }
