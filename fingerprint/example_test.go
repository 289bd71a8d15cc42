package fingerprint_test

import (
	"fmt"

	"github.com/querylens/querylens/fingerprint"
)

func ExampleNormalize() {
	buf := make([]byte, 0, 256)
	buf = fingerprint.Normalize(buf[:0], []byte("SELECT * FROM `Orders` WHERE id IN (1, 2, 3) AND status = 'paid' ORDER BY 1 LIMIT 10"))
	fmt.Println(string(buf))
	buf = fingerprint.Normalize(buf[:0], []byte("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, NOW());"))
	fmt.Println(string(buf))
	// Output:
	// select * from orders where id in (...) and status = ? order by 1 limit ?
	// insert into t(a, b) values (...)
}

func ExampleFingerprinter() {
	f := fingerprint.New(fingerprint.DefaultConfig()) // one per goroutine
	fp := f.Fingerprint("SELECT name FROM users WHERE id = 42 /*controller='users',action='show'*/")
	fmt.Println(fp.Digest, fp.Text)
	for _, tag := range fp.Tags {
		fmt.Printf("%s=%s\n", tag.Key, tag.Value)
	}
	// Output:
	// 1dd867158c8fb33a select name from users where id = ?
	// controller=users
	// action=show
}

func ExampleDescribe() {
	info := fingerprint.Describe("UPDATE shop.orders o JOIN customers c ON c.id = o.cid SET o.flag = 1")
	fmt.Println(info.Kind, info.Tables, info.ParseError)
	// Output:
	// update [customers shop.orders] false
}
