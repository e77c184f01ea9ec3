package main

import (
	"slices"
	"testing"
)

// TestNodeValidatorsFlag: --validators takes a set of indices, exclusive
// with --validator; its errors are one line.
func TestNodeValidatorsFlag(t *testing.T) {
	f, err := parseNodeFlags([]string{"--chain", "c.json", "--validators", "0-2,20"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.validators, []int{0, 1, 2, 20}) || f.validator != 0 || f.name != "validator-0+3" {
		t.Fatalf("validators %v, validator %d, name %q", f.validators, f.validator, f.name)
	}
	f, err = parseNodeFlags([]string{"--chain", "c.json", "--validators", "5"})
	if err != nil || !slices.Equal(f.validators, []int{5}) || f.name != "validator-5" {
		t.Fatalf("one index: %+v %v", f, err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--validator", "1", "--validators", "0-3"}, "provisioner node: --validator and --validators are exclusive"},
		{[]string{"--validators", "3-1"}, `provisioner node: --validators "3-1": range 3-1 runs backwards`},
		{[]string{"--validators", "1,x"}, `provisioner node: --validators "1,x": "x" is not a validator index`},
		{[]string{"--validators", ""}, `provisioner node: --validators "": want validator indices and ranges, e.g. 0-9,20`},
		{[]string{"--validators", "0-1,1"}, `provisioner node: --validators "0-1,1": validator 1 given twice`},
		{[]string{"--validators", "0-1", "--key", "//Bob"}, "provisioner node: --key names one validator: not with 2 --validators"},
		{[]string{}, "provisioner node: --chain and --validator (or --validators) are required"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			args := append([]string{"node", "--chain", "c.json"}, c.args...)
			code, out, errOut := cli(t, "", args...)
			if code != exitUsage || out != "" || errOut != c.want+"\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, c.want)
			}
		})
	}
}
