ARG X
FROM busybox${X-:missing}
