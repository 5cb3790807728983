package aside_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/redisware/redisware/aside"
)

type Item struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func ExampleGetOrSet() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	ctx := context.Background()

	cache, err := aside.New(rdb, aside.Options{
		NotFoundTTL: 30 * time.Second, // remember "no such item" briefly
	})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	db := map[int]Item{42: {ID: 42, Name: "lamp"}}
	load := func(id int) func(context.Context) (Item, error) {
		return func(context.Context) (Item, error) {
			fmt.Println("database read", id)
			it, ok := db[id]
			if !ok {
				return Item{}, aside.ErrNotFound
			}
			return it, nil
		}
	}

	for range 2 {
		item, err := aside.GetOrSet(ctx, cache, "catalog:item:42", time.Hour, load(42))
		fmt.Println(item.Name, err)
	}
	for range 2 {
		_, err := aside.GetOrSet(ctx, cache, "catalog:item:7", time.Hour, load(7))
		fmt.Println(errors.Is(err, aside.ErrNotFound))
	}
	if err := cache.Delete(ctx, "catalog:item:42"); err != nil {
		panic(err)
	}
	item, _ := aside.GetOrSet(ctx, cache, "catalog:item:42", time.Hour, load(42))
	fmt.Println(item.Name)
	// Output:
	// database read 42
	// lamp <nil>
	// lamp <nil>
	// database read 7
	// true
	// true
	// database read 42
	// lamp
}
