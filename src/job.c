/*
 * job.c - storing a job's results (see job.h).  The per-ID arrays other
 * than status are allocated on first use: most checks end with every code
 * 0, no text and no detail, and a million IDs would cost 16 MB of NULLs.
 */
#include "postgres.h"

#include "job.h"
#include "protocol.h"

void
job_set_code(imcheck_job *job, uint32 d, int32 code)
{
	if (code == 0 && job->result_code == NULL)
		return;
	if (job->result_code == NULL)
		job->result_code = palloc0(sizeof(int32) * job->n);
	job->result_code[d] = code;
}

void
job_set_info(imcheck_job *job, uint32 d, char *info)
{
	if (info == NULL && job->result_info == NULL)
		return;
	if (job->result_info == NULL)
		job->result_info = palloc0(sizeof(char *) * job->n);
	job->result_info[d] = info;
}

void
job_set_detail(imcheck_job *job, uint32 d, char *detail)
{
	if (detail == NULL && job->detail == NULL)
		return;
	if (job->detail == NULL)
		job->detail = palloc0(sizeof(char *) * job->n);
	job->detail[d] = detail;
}

void
job_fail_ids(imcheck_job *job, uint32 first, uint32 n, const call_outcome *out)
{
	for (uint32 i = 0; i < n; i++)
	{
		job_set_code(job, first + i, out->code);
		job->status[first + i] = PROTOCOL_STATUS_NONE;
		job_set_info(job, first + i, out->info);
		job_set_detail(job, first + i, NULL);
	}
}

char *
job_recent_detail(imcheck_job *job, const char *raw, size_t len,
				  char *(*make_text) (const struct imcheck_config *cfg,
									  const char *s, size_t len),
				  const struct imcheck_config *cfg)
{
	int			slot;

	for (int i = 0; i < job->n_recent_details; i++)
		if (job->recent_details[i].len == len &&
			memcmp(job->recent_details[i].raw, raw, len) == 0)
			return job->recent_details[i].text;
	/* a new one takes the place of the oldest */
	if (job->n_recent_details < JOB_RECENT_DETAILS)
		slot = job->n_recent_details++;
	else
	{
		slot = job->next_recent_detail;
		job->next_recent_detail = (slot + 1) % JOB_RECENT_DETAILS;
	}
	job->recent_details[slot].raw = pnstrdup(raw, len);
	job->recent_details[slot].len = len;
	job->recent_details[slot].text = make_text(cfg, raw, len);
	return job->recent_details[slot].text;
}
