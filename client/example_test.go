package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/sluicedata/sluice/client"
)

// Writing a file into cluster memory and reading it back.
func Example() {
	ctx := context.Background()
	cfg := client.DefaultConfig()
	cfg.Masters = []string{"127.0.0.1:19998"}
	c, err := client.New(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	w, err := c.Create(ctx, "/data/out.txt", client.CreateOptions{
		WriteType: client.WriteMustCache, Recursive: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.WriteString(w, "hello, sluice\n"); err != nil {
		w.Abort()
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	r, err := c.Open(ctx, "/data/out.txt", client.OpenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	if _, err := io.Copy(os.Stdout, r); err != nil { // uses r.WriteTo
		log.Fatal(err)
	}
	fmt.Println(c.Stats().BytesReadShortCircuit > 0)
}
