package main

import "fmt"

func main() { fmt.Println(make([]float32, 960)[0]) }
