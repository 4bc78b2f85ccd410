// Command gen writes a default-schema CSV of N synthetic legacy users to stdout, for benchmarks and load tests.
//
//	go run ./bench/gen -n 100000 > users.csv
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
)

func main() {
	n := flag.Int("n", 100000, "number of users")
	prefix := flag.String("prefix", "b", "legacy id and email prefix (distinct prefixes give disjoint users)")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	fmt.Fprintln(w, "legacy_id,email,username,display_name,given_name,surname,phone,password_hash,last_sign_in,created")
	for i := range *n {
		fmt.Fprintf(w, "%s%08d,%s%08d@example.net,%s%08d,Bench User %d,Bench,User%d,+4420794%05d,,2024-05-01T10:00:00Z,2019-03-0%dT08:00:00Z\n",
			*prefix, i, *prefix, i, *prefix, i, i, i, i%100000, 1+i%9)
	}
}
