ARG X
FROM scratch${X-:missing}
