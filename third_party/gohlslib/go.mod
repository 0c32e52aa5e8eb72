module github.com/bluenviron/gohlslib/v2

go 1.25.0

require (
	github.com/asticode/go-astits v1.15.0
	github.com/bluenviron/mediacommon/v2 v2.9.2
	github.com/stretchr/testify v1.11.1
)

require (
	github.com/abema/go-mp4 v1.7.1 // indirect
	github.com/asticode/go-astikit v0.30.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/google/uuid v1.3.0 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
