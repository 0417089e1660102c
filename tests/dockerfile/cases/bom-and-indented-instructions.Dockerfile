  FROM scratch
	env A=1
