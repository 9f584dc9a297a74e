# ruff: noqa: E501  (a table of queries: one per line reads best)
"""MySQL queries run both through the SQLite emulation and on the real MariaDB (tests/test_mysql_emulation.py).

DDL is MySQL as a user would write it; ROWS fill it identically on both engines. FUNCTIONS are the
README's table (construct, query, MySQL's answer); QUERIES are the fidelity suite, whose expected
answers come from MariaDB itself when the test runs.
"""

from __future__ import annotations

DDL = """
CREATE TABLE customers (
  id INT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(50) NOT NULL,
  grade VARCHAR(10),
  email VARCHAR(100),
  city VARCHAR(20),
  tags VARCHAR(100),
  joined DATE NOT NULL,
  last_login DATETIME
);
CREATE TABLE products (
  id INT PRIMARY KEY,
  name VARCHAR(50) NOT NULL,
  category VARCHAR(20) NOT NULL,
  price DECIMAL(10,2) NOT NULL
);
CREATE TABLE orders (
  id INT PRIMARY KEY,
  customer_id INT NOT NULL,
  status VARCHAR(10) NOT NULL,
  amount DECIMAL(10,2) NOT NULL,
  ordered_at DATETIME NOT NULL,
  FOREIGN KEY (customer_id) REFERENCES customers(id)
);
CREATE TABLE order_items (
  order_id INT NOT NULL,
  product_id INT NOT NULL,
  qty INT NOT NULL,
  PRIMARY KEY (order_id, product_id)
);
"""

ROWS = {
    "customers": (
        ("id", "name", "grade", "email", "city", "tags", "joined", "last_login"),
        [
            (1, "김철수", "VIP", "kim@example.com", "서울", "a,b", "2024-01-31", "2024-03-16 10:20:30"),
            (2, "bob", "vip", "bob@test.org", "Busan", "b,c", "2024-02-29", "2024-03-15 23:00:00"),
            (3, "Alice", "basic", "alice@example.com", "서울", "", "2023-12-31", "2024-01-01 00:00:00"),
            (4, "이영희", "gold", None, "대구", "c", "2022-06-15", None),
            (5, "박민수", None, "park@shop.co.kr", "서울", "a", "2024-03-01", "2024-03-16 08:05:00"),
            (6, "ALICE", "Basic", "alice2@example.com", "busan", "a,c", "2021-11-30", "2023-12-31 23:59:59"),
        ],
    ),
    "products": (
        ("id", "name", "category", "price"),
        [
            (1, "노트북", "전자", 1299000.00),
            (2, "마우스", "전자", 25000.50),
            (3, "커피", "식품", 4500.00),
            (4, "Tea", "식품", 3200.75),
            (5, "책상", "가구", 189000.00),
        ],
    ),
    "orders": (
        ("id", "customer_id", "status", "amount", "ordered_at"),
        [
            (1, 1, "paid", 1324000.50, "2024-01-05 09:00:00"),
            (2, 1, "shipped", 4500.00, "2024-02-29 18:30:00"),
            (3, 2, "paid", 25000.50, "2024-03-01 00:00:00"),
            (4, 3, "cancelled", 3200.75, "2023-12-31 23:59:59"),
            (5, 5, "PAID", 189000.00, "2024-03-15 12:00:00"),
            (6, 2, "paid", 9000.00, "2024-03-16 07:45:00"),
            (7, 6, "shipped", 12.34, "2022-07-04 15:15:15"),
        ],
    ),
    "order_items": (
        ("order_id", "product_id", "qty"),
        [(1, 1, 1), (1, 2, 1), (2, 3, 1), (3, 2, 1), (4, 4, 1), (5, 5, 1), (6, 3, 2), (7, 4, 3)],
    ),
}

# (construct, query, MySQL's answer as rows): the README table; each row is a test on both engines.
FUNCTIONS = [
    ("`=` on text ignores case", "SELECT COUNT(*) FROM customers WHERE grade = 'vip'", [(2,)]),
    (
        "GROUP BY text ignores case",
        "SELECT COUNT(*) FROM (SELECT grade FROM customers GROUP BY grade) g",
        [(4,)],
    ),
    ("DATE_SUB on a DATE stays a DATE", "SELECT DATE_SUB('2024-03-16', INTERVAL 1 DAY)", [("2024-03-15",)]),
    ("DATE_ADD month clamps", "SELECT DATE_ADD('2024-01-31', INTERVAL 1 MONTH)", [("2024-02-29",)]),
    (
        "d + INTERVAL keeps DATETIME",
        "SELECT last_login + INTERVAL 1 HOUR FROM customers WHERE id = 2",
        [("2024-03-16 00:00:00",)],
    ),
    ("DATEDIFF compares dates", "SELECT DATEDIFF('2024-03-16 01:00:00', '2024-03-15 23:00:00')", [(1,)]),
    (
        "TIMESTAMPDIFF",
        "SELECT TIMESTAMPDIFF(MONTH, '2024-01-31', '2024-02-29'), TIMESTAMPDIFF(DAY, '2024-01-01', '2024-03-01 12:00:00')",
        [(0, 60)],
    ),
    (
        "STR_TO_DATE",
        "SELECT STR_TO_DATE('16/03/2024', '%d/%m/%Y'), STR_TO_DATE('2024-03-16 7:05', '%Y-%m-%d %H:%i')",
        [("2024-03-16", "2024-03-16 07:05:00")],
    ),
    (
        "DATE_FORMAT",
        "SELECT DATE_FORMAT('2024-03-06', '%c월 %e일'), DATE_FORMAT('2024-03-16 14:05:09', '%Y/%m/%d %h:%i %p %W %M')",
        [("3월 6일", "2024/03/16 02:05 PM Saturday March")],
    ),
    (
        "WEEK",
        "SELECT WEEK('2024-01-01'), WEEK('2024-01-07'), WEEK('2024-12-31', 1), WEEK('2021-01-03', 3)",
        [(0, 1, 53, 53)],
    ),
    ("DAYOFWEEK / WEEKDAY", "SELECT DAYOFWEEK('2024-03-16'), WEEKDAY('2024-03-16')", [(7, 5)]),
    ("REGEXP", "SELECT COUNT(*) FROM customers WHERE name REGEXP '^a'", [(2,)]),
    ("FIND_IN_SET", "SELECT FIND_IN_SET('b', 'a,b,c'), FIND_IN_SET('z', 'a,b,c')", [(2, 0)]),
    (
        "LAST_DAY",
        "SELECT LAST_DAY('2024-02-10'), LAST_DAY('2023-02-10 10:00:00')",
        [("2024-02-29", "2023-02-28")],
    ),
    (
        "SUBSTRING_INDEX",
        "SELECT SUBSTRING_INDEX('kim@example.com', '@', -1), SUBSTRING_INDEX('a.b.c', '.', 2)",
        [("example.com", "a.b")],
    ),
    (
        "LPAD / RPAD",
        "SELECT LPAD('7', 3, '0'), RPAD('ab', 5, 'xy'), LPAD('hello', 3, '*')",
        [("007", "abxyx", "hel")],
    ),
    (
        "LPAD / RPAD edges",
        "SELECT LPAD('ab', -1, 'x'), RPAD('ab', 5, ''), LPAD('ab', 5, ''), RPAD('hello', 3, '*'), LPAD('ab', 2, '')",
        [(None, None, None, "hel", "ab")],
    ),
    ("FIELD", "SELECT FIELD('b', 'a', 'b', 'c'), FIELD('z', 'a')", [(2, 0)]),
    (
        "EXTRACT",
        "SELECT EXTRACT(YEAR FROM '2024-03-16'), EXTRACT(YEAR_MONTH FROM '2024-03-16 10:00:00')",
        [(2024, 202403)],
    ),
    ("QUARTER", "SELECT QUARTER('2024-03-31'), QUARTER('2024-04-01')", [(1, 2)]),
    (
        "HOUR / MINUTE / SECOND",
        "SELECT HOUR('2024-03-16 10:20:30'), MINUTE('2024-03-16 10:20:30'), SECOND('10:20:30')",
        [(10, 20, 30)],
    ),
    ("FORMAT", "SELECT FORMAT(1234567.891, 2), FORMAT(0.5, 0)", [("1,234,567.89", "1")]),
    ("COUNT(DISTINCT a, b)", "SELECT COUNT(DISTINCT city, grade) FROM customers", [(5,)]),
    (
        "GROUP_CONCAT ORDER BY / SEPARATOR",
        "SELECT GROUP_CONCAT(name ORDER BY id DESC SEPARATOR ';') FROM products WHERE category = '식품'",
        [("Tea;커피",)],
    ),
    ("LENGTH bytes, CHAR_LENGTH chars", "SELECT LENGTH('김철수'), CHAR_LENGTH('김철수')", [(9, 3)]),
    (
        "CAST AS DECIMAL rounds",
        "SELECT CAST(12.345 AS DECIMAL(10,1)), CAST(2.5 AS DECIMAL(10,0))",
        [(12.3, 3)],
    ),
    ("TRUNCATE", "SELECT TRUNCATE(12.399, 1), TRUNCATE(-1.99, 0), TRUNCATE(1234, -2)", [(12.3, -1, 1200)]),
]

# The fidelity suite: (category, query). Expected answers: MariaDB's, when the test runs.
QUERIES = [
    # dates
    ("dates", "SELECT id FROM customers WHERE joined = DATE_SUB('2024-03-01', INTERVAL 1 DAY)"),
    ("dates", "SELECT id, DATE_ADD(joined, INTERVAL 1 MONTH) FROM customers"),
    ("dates", "SELECT id, DATE_SUB(joined, INTERVAL 1 YEAR) FROM customers"),
    ("dates", "SELECT id, joined + INTERVAL 7 DAY FROM customers"),
    ("dates", "SELECT id, last_login - INTERVAL 30 MINUTE FROM customers"),
    ("dates", "SELECT id, DATEDIFF(last_login, joined) FROM customers"),
    ("dates", "SELECT id, TIMESTAMPDIFF(DAY, joined, last_login) FROM customers"),
    ("dates", "SELECT id, TIMESTAMPDIFF(HOUR, ordered_at, '2024-03-16 12:00:00') FROM orders"),
    ("dates", "SELECT id, TIMESTAMPDIFF(YEAR, joined, '2024-06-30') FROM customers"),
    (
        "dates",
        "SELECT YEAR(ordered_at), MONTH(ordered_at), COUNT(*) FROM orders GROUP BY YEAR(ordered_at), MONTH(ordered_at)",
    ),
    ("dates", "SELECT DATE_FORMAT(ordered_at, '%Y-%m') AS ym, SUM(amount) FROM orders GROUP BY ym"),
    ("dates", "SELECT id, DATE_FORMAT(joined, '%c월 %e일') FROM customers"),
    ("dates", "SELECT id, DATE_FORMAT(ordered_at, '%H:%i') FROM orders"),
    ("dates", "SELECT id FROM orders WHERE DATE(ordered_at) = '2024-02-29'"),
    ("dates", "SELECT id FROM orders WHERE ordered_at BETWEEN '2024-03-01' AND '2024-03-15 23:59:59'"),
    ("dates", "SELECT id, DAYOFWEEK(ordered_at), WEEKDAY(ordered_at) FROM orders"),
    ("dates", "SELECT id, WEEK(ordered_at), WEEK(ordered_at, 1) FROM orders"),
    ("dates", "SELECT id, QUARTER(ordered_at) FROM orders"),
    ("dates", "SELECT id, LAST_DAY(joined) FROM customers"),
    ("dates", "SELECT id, EXTRACT(MONTH FROM ordered_at), EXTRACT(DAY FROM ordered_at) FROM orders"),
    ("dates", "SELECT id, HOUR(ordered_at), MINUTE(ordered_at) FROM orders"),
    ("dates", "SELECT STR_TO_DATE('2024년 03월 16일', '%Y년 %m월 %d일')"),
    ("dates", "SELECT id FROM customers WHERE joined >= STR_TO_DATE('01/01/2024', '%m/%d/%Y')"),
    ("dates", "SELECT id, DAYNAME(joined), MONTHNAME(joined) FROM customers"),
    ("dates", "SELECT id FROM customers WHERE MONTH(joined) = 2 AND DAY(joined) = 29"),
    ("dates", "SELECT COUNT(*) FROM orders WHERE ordered_at >= '2024-03-16' - INTERVAL 7 DAY"),
    # strings
    ("strings", "SELECT id FROM customers WHERE grade = 'VIP'"),
    ("strings", "SELECT id FROM customers WHERE name = 'alice'"),
    ("strings", "SELECT id FROM customers WHERE name LIKE 'a%'"),
    ("strings", "SELECT id FROM customers WHERE email LIKE '%@example.com'"),
    ("strings", "SELECT id FROM customers WHERE name LIKE '_ob'"),
    ("strings", "SELECT DISTINCT city FROM customers"),
    ("strings", "SELECT id, CONCAT(name, '(', city, ')') FROM customers"),
    ("strings", "SELECT id, CONCAT_WS('-', name, grade, city) FROM customers"),
    ("strings", "SELECT id, UPPER(name), LOWER(name) FROM customers"),
    ("strings", "SELECT id, LENGTH(name), CHAR_LENGTH(name) FROM customers"),
    ("strings", "SELECT id, SUBSTRING(name, 1, 2) FROM customers"),
    ("strings", "SELECT id, LEFT(email, 3), RIGHT(email, 3) FROM customers"),
    ("strings", "SELECT id, SUBSTRING_INDEX(email, '@', 1), SUBSTRING_INDEX(email, '@', -1) FROM customers"),
    ("strings", "SELECT id, REPLACE(email, 'example', 'ex') FROM customers"),
    ("strings", "SELECT id, LPAD(id, 4, '0') FROM customers"),
    ("strings", "SELECT id, TRIM(CONCAT('  ', name, '  ')) FROM customers"),
    ("strings", "SELECT id FROM customers WHERE name REGEXP '^[a-c]'"),
    ("strings", "SELECT id FROM customers WHERE FIND_IN_SET('a', tags) > 0"),
    ("strings", "SELECT id, INSTR(email, '@') FROM customers"),
    ("strings", "SELECT id FROM customers WHERE email IS NULL"),
    ("strings", "SELECT id, IFNULL(grade, 'none') FROM customers"),
    ("strings", "SELECT id, COALESCE(email, grade, 'x') FROM customers"),
    ("strings", "SELECT id FROM customers ORDER BY name LIMIT 3"),
    ("strings", "SELECT id, FIELD(grade, 'VIP', 'gold', 'basic') FROM customers"),
    ("strings", "SELECT id, REVERSE(name) FROM customers WHERE id > 2"),
    # numbers
    ("numbers", "SELECT id, ROUND(amount / 1000, 1) FROM orders"),
    ("numbers", "SELECT id, CAST(amount AS DECIMAL(10,0)) FROM orders"),
    ("numbers", "SELECT id, TRUNCATE(amount, -2) FROM orders"),
    ("numbers", "SELECT id, FORMAT(amount, 0) FROM orders"),
    ("numbers", "SELECT id, FLOOR(price / 1000), CEIL(price / 1000) FROM products"),
    ("numbers", "SELECT id, price * 1.1 FROM products"),
    ("numbers", "SELECT id, ABS(amount - 10000) FROM orders"),
    ("numbers", "SELECT id, amount MOD 7 FROM orders"),
    ("numbers", "SELECT id, GREATEST(amount, 10000), LEAST(amount, 10000) FROM orders"),
    ("numbers", "SELECT SUM(amount), MAX(amount), MIN(amount) FROM orders"),
    ("numbers", "SELECT product_id, POW(qty, 2) FROM order_items WHERE order_id >= 6"),
    ("numbers", "SELECT id FROM products WHERE price BETWEEN 3200.75 AND 25000.50"),
    # grouping
    ("grouping", "SELECT grade, COUNT(*) FROM customers GROUP BY grade"),
    ("grouping", "SELECT city, COUNT(*) FROM customers GROUP BY city HAVING COUNT(*) > 1"),
    ("grouping", "SELECT status, COUNT(*), SUM(amount) FROM orders GROUP BY status"),
    ("grouping", "SELECT COUNT(DISTINCT status) FROM orders"),
    ("grouping", "SELECT COUNT(DISTINCT customer_id, status) FROM orders"),
    (
        "grouping",
        "SELECT customer_id, GROUP_CONCAT(id ORDER BY id SEPARATOR ',') FROM orders GROUP BY customer_id",
    ),
    ("grouping", "SELECT category, GROUP_CONCAT(name ORDER BY price DESC) FROM products GROUP BY category"),
    (
        "grouping",
        "SELECT category, COUNT(*), MAX(price) FROM products GROUP BY category ORDER BY COUNT(*) DESC, category",
    ),
    (
        "grouping",
        "SELECT c.name, SUM(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name",
    ),
    (
        "grouping",
        "SELECT c.id, COUNT(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id",
    ),
    (
        "grouping",
        "SELECT p.category, SUM(oi.qty) FROM order_items oi JOIN products p ON p.id = oi.product_id GROUP BY p.category",
    ),
    ("grouping", "SELECT COUNT(email), COUNT(*), COUNT(grade) FROM customers"),
    ("grouping", "SELECT DISTINCT grade FROM customers WHERE grade IS NOT NULL"),
    ("grouping", "SELECT YEAR(joined) AS y, COUNT(*) FROM customers GROUP BY y HAVING y >= 2023"),
    ("grouping", "SELECT status, AVG(amount) FROM orders GROUP BY status"),
    # window functions
    ("window", "SELECT id, RANK() OVER (ORDER BY amount DESC) FROM orders"),
    ("window", "SELECT id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at) FROM orders"),
    ("window", "SELECT id, SUM(amount) OVER (PARTITION BY customer_id) FROM orders"),
    ("window", "SELECT id, DENSE_RANK() OVER (PARTITION BY category ORDER BY price DESC) FROM products"),
    ("window", "SELECT id, LAG(amount) OVER (ORDER BY ordered_at) FROM orders"),
    ("window", "SELECT id, LEAD(id) OVER (ORDER BY id) FROM orders"),
    ("window", "SELECT id, COUNT(*) OVER () FROM customers"),
    (
        "window",
        "SELECT id, SUM(amount) OVER (ORDER BY ordered_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM orders",
    ),
    # Korean text
    ("korean", "SELECT id FROM customers WHERE name LIKE '김%'"),
    ("korean", "SELECT id FROM customers WHERE city = '서울'"),
    ("korean", "SELECT name FROM products WHERE category = '전자' ORDER BY price DESC"),
    ("korean", "SELECT id, CONCAT(name, '님') FROM customers WHERE city = '서울'"),
    ("korean", "SELECT city, COUNT(*) AS 고객수 FROM customers GROUP BY city ORDER BY 고객수 DESC, city"),
    ("korean", "SELECT id, LENGTH(city), CHAR_LENGTH(city) FROM customers"),
    ("korean", "SELECT id FROM products WHERE name LIKE '%노트%'"),
    ("korean", "SELECT SUBSTRING(name, 2) FROM customers WHERE id = 1"),
    # joins and subqueries
    (
        "joins",
        "SELECT c.name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.status = 'paid')",
    ),
    ("joins", "SELECT id FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)"),
    (
        "joins",
        "SELECT o.id, p.name FROM orders o JOIN order_items oi ON oi.order_id = o.id JOIN products p ON p.id = oi.product_id WHERE o.id <= 2",
    ),
    (
        "joins",
        "SELECT name FROM customers WHERE id = (SELECT customer_id FROM orders ORDER BY amount DESC LIMIT 1)",
    ),
    ("joins", "SELECT id FROM orders ORDER BY amount DESC LIMIT 2, 2"),
    (
        "joins",
        "SELECT id, CASE WHEN amount >= 100000 THEN 'high' WHEN amount >= 10000 THEN 'mid' ELSE 'low' END FROM orders",
    ),
    ("joins", "SELECT id, IF(status = 'paid', 1, 0) FROM orders"),
]
