// Package order measures what the README's "Order of middlewares" and
// "Behind a proxy or load balancer" sections say: its tests stack the
// middlewares in the documented order and in the tempting wrong ones, and
// count renders, Redis round trips and allowed requests. Run them with -v
// to see the numbers the README quotes:
//
//	go test -v -run . ./examples/order
package order
