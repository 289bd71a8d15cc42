## Differential corpus: statements that TiDB's parser.Normalize(sql, "ON") groups
## together must be grouped together by fingerprint.Normalize too. One statement
## per line; "## " lines and blank lines are ignored. Families are only a
## reading aid: the test groups by TiDB's output, not by family.

## point select, literal values
SELECT id, name FROM users WHERE id = 1
SELECT id, name FROM users WHERE id = 42
SELECT id, name FROM users WHERE id = -7
SELECT id, name FROM users WHERE id = 0
SELECT id, name FROM users WHERE id = 123456789
SELECT id, name FROM users WHERE id = 99
select id, name from users where id = ?
select  id,name  from `users` where `id`=5
SELECT ID, NAME FROM USERS WHERE ID = 5
select id, name from users where id = 5;
select id, name /* c */ from users where id = 5 -- x
select id, name from users where id = +3
select id, name from users where id = 1.5
select id, name from users where id = 'x'
select id, name from users where id = 0x1f
select id, name from users where id = X'0A'
select id, name from users where id = b'01'
select id, name from users where id = null
select id, name from users where id = 1e3
select id, name from users where id = .5

## point select by string
select * from users where email = 'a'
select * from users where email = 'bob@example.com'
select * from users where email = "x"
select * from users where email = 'it''s'
select * from users where email = 'O\'Reilly'
select * from users where email = ''
select * from users where email = _utf8mb4'a'
select * from users where email = N'x'
select * from users where email = ?

## two predicates
select * from orders where customer_id = 1 and status = 'a'
select * from orders where customer_id = 42 and status = 'bob@example.com'
select * from orders where customer_id = -7 and status = "x"
select * from orders where customer_id = 0 and status = 'it''s'
select * from orders where customer_id = 123456789 and status = 'O\'Reilly'
select * from orders where customer_id = 99 and status = ''

## range
SELECT * FROM orders WHERE created_at >= '2024-01-01' AND created_at < '2024-02-01' ORDER BY created_at DESC LIMIT 10
SELECT * FROM orders WHERE created_at >= '2024-02-01' AND created_at < '2024-03-01' ORDER BY created_at DESC LIMIT 50
SELECT * FROM orders WHERE created_at >= '2024-03-01' AND created_at < '2024-04-01' ORDER BY created_at DESC LIMIT 100
select * from orders where created_at >= ? and created_at < ? order by created_at desc limit ?

## between and negative
select * from t where a between -1 and 1
select * from t where a between 5 and 10
select * from t where a between ? and ?
select * from t where a between -1 and -2

## in list of two or more
select * from t where id in (332, 971)
select * from t where id in (155, 405, 667)
select * from t where id in (50, 75, 841, 549, 97)
select * from t where id in (375, 597, 60, 932, 520, 220, 39, 89, 445, 429)
select * from t where id in (72, 247, 93, 565, 435, 61, 847, 580, 127, 971, 229, 646, 643, 597, 971, 64, 591, 600, 407, 51, 227, 48, 571, 880, 137, 297, 430, 148, 554, 121, 585, 316, 574, 836, 699, 186, 106, 596, 585, 655, 193, 382, 100, 561, 730, 65, 578, 62, 634, 211)
select * from t where id in (?, ?)
select * from t where id in ('a','b','c')
select * from t where id in (-1, 2)
select * from t where id IN(1,2)

## in list of one
select * from t where id in (1)
select * from t where id in (?)
select * from t where id in ('x')

## in list with other predicate
select id, status from jobs where id in (0, 1) and status <> 'done'
select id, status from jobs where id in (0, 1, 2, 3) and status <> 'done'
select id, status from jobs where id in (0, 1, 2, 3, 4, 5, 6, 7) and status <> 'done'

## not in
select * from t where id not in (1, 2)
select * from t where id not in (3, 4, 5, 6)

## values two or more rows
insert into t (a, b) values (64, 'v88'), (69, 'v55')
insert into t (a, b) values (41, 'v60'), (75, 'v59'), (47, 'v39')
insert into t (a, b) values (32, 'v24'), (90, 'v32'), (11, 'v74'), (39, 'v68'), (64, 'v44'), (94, 'v58'), (37, 'v78'), (10, 'v16'), (66, 'v54'), (22, 'v97')
INSERT INTO t (a, b) VALUES (?, ?), (?, ?)
insert into t(a,b) values(1,'x'),(2,'y')

## values one row
insert into t (a, b) values (1, 'x')
insert into t (a, b) values (?, ?)
insert into t (a, b) values (-5, "y")

## values with now
insert into t (a, b) values (1, now())
insert into t (a, b) values (2, now())
insert into t (a, b) values (?, now())

## upsert
insert into counters (k, n) values ('a', 1) on duplicate key update n = n + 1
insert into counters (k, n) values ('b', 2) on duplicate key update n = n + 2
insert into counters (k, n) values ('c', -3) on duplicate key update n = n + -3

## replace
replace into kv values ('a', 1)
replace into kv values ('b', 2)

## update
UPDATE accounts SET balance = balance - 100.25, updated_at = NOW() WHERE id = 7 AND version = 3
UPDATE accounts SET balance = balance - 5, updated_at = NOW() WHERE id = 8 AND version = 1
UPDATE accounts SET balance = balance - 0, updated_at = NOW() WHERE id = 1 AND version = 0
update accounts set balance = balance - ?, updated_at = now() where id = ? and version = ?

## update set null true false
update t set a = null where b = 1
update t set a = 5 where b = 2
update t set a = 'x' where b = ?

## update booleans
update t set flag = true
update t set flag = false

## delete
delete from sessions where expires_at < 1700000000 limit 100
delete from sessions where expires_at < 1 limit 1
delete from sessions where expires_at < 2 limit 1000

## join
SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'paid' AND c.country = 'DE'
SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'new' AND c.country = 'FR'
SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'x' AND c.country = ''

## left join using
select * from a left join b using (id) where b.x = 1
select * from a left join b using (id) where b.x = 2

## count star
select count(*) from t where a = 1
select count(*) from t where a = 2

## group by
select a, count(*) from t where b > 1 group by a having count(*) > 2
select a, count(*) from t where b > 10 group by a having count(*) > 20

## order by ordinal 1
select a, b from t where c = 1 order by 1
select a, b from t where c = 2 order by 1

## order by ordinal 2
select a, b from t where c = 1 order by 2
select a, b from t where c = 2 order by 2

## order by ordinals list
select a, b from t order by 1, 2
select a, b from t order by 1 , 2

## group by ordinal
select a, count(*) from t group by 1
select a, count(*) from t GROUP BY 1

## limit offset
select * from t limit 10 offset 20
select * from t limit 5 offset 0
select * from t limit ? offset ?

## limit comma
select * from t limit 10, 20
select * from t limit 0, 5
select * from t limit ?, ?

## limit one
select * from t limit 1
select * from t limit 100
select * from t limit ?

## unary after equals
select * from t where a = -1
select * from t where a = 1
select * from t where a = - 5
select * from t where a = +2

## unary after not-equals
select * from t where a <> -1
select * from t where a <> -2

## binary minus
select a - 1 from t
select a-2 from t
select a - -3 from t
select a - +4 from t

## arithmetic
select * from t where a = 1 + 2
select * from t where a = 3 + 4

## case
select case when a = 1 then 'x' else 'y' end from t
select case when a = 2 then 'z' else 'w' end from t

## is null
select * from t where a is null
select * from t where a is NULL

## is not null
select * from t where a is not null and b = 1
select * from t where a is not null and b = 2

## like
select * from t where name like 'a%'
select * from t where name like '%b%'

## interval
select * from t where ts > now() - interval 1 day
select * from t where ts > now() - interval 7 day

## functions
select coalesce(a, 1) from t
select coalesce(a, 2) from t

## function of literals
select char(65, 66, 67)
select char(68, 69)

## date function
select * from t where d = date('2024-01-01')
select * from t where d = date('2025-12-31')

## subquery in
select * from t where id in (select tid from u where x = 1)
select * from t where id in (select tid from u where x = 2)

## exists
select * from t where exists (select 1 from u where u.id = t.id and u.x = 5)
select * from t where exists (select 2 from u where u.id = t.id and u.x = 6)

## tuple in
select * from t where (a, b) in ((1, 2), (3, 4))
select * from t where (a, b) in ((5, 6), (7, 8), (9, 10))

## union
select a from t where b = 1 union all select a from u where b = 2
select a from t where b = 3 union all select a from u where b = 4

## or chain
select * from t where a = 1 or a = 2
select * from t where a = 3 or a = 4

## hint stripped
select /*+ MAX_EXECUTION_TIME(1000) */ a from t where b = 1
select /*+ MAX_EXECUTION_TIME(5) */ a from t where b = 2
select a from t where b = 3

## comments stripped
select a from t where b = 1 /* traceparent='00-abc' */
select a from t where b = 2 -- done
select a /* x */ from t where b = 3
select a from t where b = 4 # hash

## sqlcommenter
SELECT * FROM t WHERE id = 1 /*controller='index',action='show'*/
SELECT * FROM t WHERE id = 2 /*controller='users',action='edit'*/
SELECT * FROM t WHERE id = 3

## executable comment
SELECT /*!40001 SQL_NO_CACHE */ * FROM t WHERE a = 1
SELECT /*!40001 SQL_NO_CACHE */ * FROM t WHERE a = 2
select sql_no_cache * from t where a = 3

## charset introducer
select * from t where s = _utf8mb4'a'
select * from t where s = _utf8mb4'b'

## hex and bit
select * from t where h = 0xff
select * from t where h = X'01'
select * from t where h = 0x0a0b

## double quoted
select * from t where s = "a"
select * from t where s = "b\"c"

## trailing semicolon
select 1 from t
select 2 from t;
select 3 from t ;

## multi statement
select 1; select 2
select 3; select 4

## select literals same count
select 1, 2
select 3, 4
select 'a', 'b'

## set variables
set @a = 1
set @a = 'x'
SET @a := 5

## set session
set session sql_mode = 'STRICT_TRANS_TABLES'
set session sql_mode = ''

## system variable select
select @@session.tx_isolation
SELECT @@SESSION.TX_ISOLATION

## use
use shop
USE shop
use `shop`

## call
call p(1, 'a')
call p(2, 'b')

## transaction
begin
BEGIN

## commit
commit
COMMIT;

## identifiers with digits t1
select * from t1 where id = 1
select * from t1 where id = 2

## identifiers with digits t2
select * from t2 where id = 1

## qualified names
select db.t.a from db.t where db.t.b = 1
select db.t.a from db.t where db.t.b = 2

## backticks
select `a`, `b` from `t`
select a, b from t
SELECT A, B FROM T

## json
select doc->'$.a' from t where id = 1
select doc->'$.b' from t where id = 2

## window
select row_number() over (partition by a order by b) from t where c = 1
select row_number() over (partition by a order by b) from t where c = 2

## cte
with c as (select id from t where x = 1) select * from c
with c as (select id from t where x = 2) select * from c

## derived table
select * from (select a from t where b = 1) x
select * from (select a from t where b = 2) x

## create table
create table t (id int not null, name varchar(255))
create table t (id int not null, name varchar(100))

## show
show full columns from t1 like 'id%'
show full columns from t1 like 'x'

## load data
load data local infile '/tmp/a.csv' into table t
load data local infile '/tmp/b.csv' into table t

## grant
grant select on db.* to 'bob'@'localhost'
grant select on db.* to 'alice'@'localhost'

## update with in
update jobs set state = 'done' where id in (1, 2, 3)
update jobs set state = 'new' where id in (4, 5)

## delete with in
delete from jobs where id in (1, 2)
delete from jobs where id in (7, 8, 9, 10)

## insert select
insert into t (a) select a from u where b = 1
insert into t (a) select a from u where b = 2

## for update
select * from t where id = 1 for update
select * from t where id = 2 for update

## lock in share mode
select * from t where id = 1 lock in share mode
select * from t where id = 2 lock in share mode

## distinct
select distinct a from t where b = 1
select distinct a from t where b = 2

## group_concat
select group_concat(a separator ',') from t where b = 1
select group_concat(a separator ';') from t where b = 2

## cast
select cast(a as char(10)) from t where b = 1
select cast(a as char(10)) from t where b = 2

## nested functions
select date_add(now(), interval 1 day) from t
select date_add(now(), interval 2 day) from t

## regexp
select * from t where a regexp '^x'
select * from t where a regexp '^y'

## whitespace
select	a
from	t
where	b	=	1
select a from t where b = 2
