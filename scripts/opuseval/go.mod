module opuseval

go 1.26.8

require (
	github.com/kazzmir/opus-go v1.2.1
	github.com/thesyncim/gopus v0.1.1
)
