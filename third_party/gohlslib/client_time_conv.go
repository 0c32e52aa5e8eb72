package gohlslib

type clientTimeConv any
