# syntax=docker/dockerfile:1.7
#check=skip=all;error=true
  #   Escape = `
FROM scratch
