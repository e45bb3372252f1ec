"""quality-flag look-up indexes; kiosk queue_held

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('kiosk', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue_held', sa.Integer(), nullable=True))
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.create_index('ix_response_kiosk_client_time', ['kiosk_id', 'client_time'],
                              unique=False)
        batch_op.create_index('ix_response_kiosk_submitted', ['kiosk_id', 'submitted_at'],
                              unique=False)
        batch_op.create_index('ix_response_source_submitted', ['source_hash', 'submitted_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('response', schema=None) as batch_op:
        batch_op.drop_index('ix_response_source_submitted')
        batch_op.drop_index('ix_response_kiosk_submitted')
        batch_op.drop_index('ix_response_kiosk_client_time')
    with op.batch_alter_table('kiosk', schema=None) as batch_op:
        batch_op.drop_column('queue_held')
