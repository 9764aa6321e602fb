module github.com/attachstore/attachstore

go 1.26

require (
	github.com/golang-migrate/migrate/v4 v4.20.1
	github.com/jmoiron/sqlx v1.4.0
	github.com/mattn/go-sqlite3 v1.14.53
)

require pgregory.net/rapid v1.3.0
